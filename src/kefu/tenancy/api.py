"""HTTP API of the tenancy domain: sign-in, me, users, departments, API tokens, settings, roles.

Handlers parse, call one action or query, serialise.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from kefu.core.actor import Actor
from kefu.core.schemas import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, keyset_page
from kefu.tenancy import actions, queries
from kefu.tenancy.access import access_api_token_by_id, access_department_by_id, access_user_by_id
from kefu.tenancy.rules import ROLE_PERMISSIONS, Permission, permissions_for
from kefu.tenancy.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenOut,
    DepartmentCreate,
    DepartmentOut,
    DepartmentUpdate,
    LoginRequest,
    LoginResponse,
    MeOut,
    PasswordChange,
    PasswordReset,
    RoleOut,
    TenantSettingsOut,
    TenantSettingsUpdate,
    TotpCode,
    TotpDisable,
    TotpSetupOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from kefu.web.deps import DB, SESSION_COOKIE, CurrentTenant, Require, client_ip, get_context

router = APIRouter(prefix="/api/v1/t/{tenant}", tags=["tenancy"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


def Allowed(permission: Permission | None) -> object:
    return Depends(Require(permission))


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    settings = get_context(request).settings
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        max_age=settings.session_absolute_hours * 3600,
        path="/",
    )


# --------------------------------------------------------------------------- sign-in


@router.post("/auth/login", response_model=LoginResponse, summary="Sign in and open a session")
async def login(body: LoginRequest, request: Request, response: Response, db: DB, tenant: CurrentTenant):
    result = await actions.do_login(
        db,
        tenant,
        username=body.username,
        password=body.password,
        totp_code=body.totp_code,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    set_session_cookie(request, response, result.token)
    return LoginResponse(
        user=UserOut.model_validate(result.user),
        csrf_token=result.session.csrf_token,
        expires_at=result.session.expires_at,
    )


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, summary="End this session")
async def logout(response: Response, db: DB, actor: Actor = Allowed(None)) -> None:
    await actions.do_logout(db, actor)
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/me", response_model=MeOut, summary="Who am I")
async def me(db: DB, tenant: CurrentTenant, actor: Actor = Allowed(None)):
    if actor.user_id is None:
        return MeOut(
            id=actor.id,
            username=actor.name,
            display_name=actor.name,
            email=None,
            roles=[],  # type: ignore[arg-type]
            department_id=None,
            is_active=True,
            locked_until=None,
            last_login_at=None,
            totp_enabled=False,
            created_at=tenant.created_at,
            permissions=sorted(actor.permissions),
            tenant_slug=tenant.slug,
            tenant_name=tenant.name,
        )
    user = await access_user_by_id(db, actor, actor.user_id)
    return MeOut(
        **UserOut.model_validate(user).model_dump(),
        permissions=sorted(permissions_for(user.roles)),
        tenant_slug=tenant.slug,
        tenant_name=tenant.name,
    )


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT, summary="Change my password")
async def change_password(body: PasswordChange, db: DB, actor: Actor = Allowed(None)) -> None:
    await actions.do_change_own_password(db, actor, body.current_password, body.new_password)


@router.post("/me/totp", response_model=TotpSetupOut, summary="Start setting up an authenticator app")
async def totp_setup(db: DB, actor: Actor = Allowed(None)):
    secret, uri = await actions.do_begin_totp_setup(db, actor)
    return TotpSetupOut(secret=secret, otpauth_uri=uri)


@router.post("/me/totp/confirm", status_code=status.HTTP_204_NO_CONTENT, summary="Turn the authenticator on")
async def totp_confirm(body: TotpCode, db: DB, actor: Actor = Allowed(None)) -> None:
    await actions.do_confirm_totp(db, actor, body.code)


@router.post("/me/totp/disable", status_code=status.HTTP_204_NO_CONTENT, summary="Turn the authenticator off")
async def totp_disable(body: TotpDisable, db: DB, actor: Actor = Allowed(None)) -> None:
    await actions.do_disable_totp(db, actor, body.password)


# --------------------------------------------------------------------------- users


@router.get("/users", response_model=Page[UserOut], summary="List users")
async def list_users(
    db: DB,
    actor: Actor = Allowed(Permission.USERS_READ),
    after: uuid.UUID | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    department_id: uuid.UUID | None = None,
    active: bool | None = None,
    q: Annotated[str | None, Query(max_length=64)] = None,
):
    users = await queries.list_users(
        db, actor, after=after, limit=limit, department_id=department_id, active=active, search=q
    )
    return keyset_page(users, limit, UserOut)


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED, summary="Create a user")
async def create_user(body: UserCreate, db: DB, actor: Actor = Allowed(Permission.USERS_MANAGE)):
    return await actions.do_create_user(db, actor, **body.model_dump())


@router.get("/users/{user_id}", response_model=UserOut, summary="Get a user")
async def get_user(user_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.USERS_READ)):
    return await access_user_by_id(db, actor, user_id)


@router.patch("/users/{user_id}", response_model=UserOut, summary="Change a user's name, roles or department")
async def update_user(user_id: uuid.UUID, body: UserUpdate, db: DB, actor: Actor = Allowed(Permission.USERS_MANAGE)):
    return await actions.do_update_user(db, actor, user_id, body.model_dump(exclude_unset=True))


@router.post("/users/{user_id}/disable", response_model=UserOut, summary="Disable a user and end their sessions")
async def disable_user(user_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.USERS_MANAGE)):
    return await actions.do_disable_user(db, actor, user_id)


@router.post("/users/{user_id}/enable", response_model=UserOut, summary="Enable a user")
async def enable_user(user_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.USERS_MANAGE)):
    return await actions.do_enable_user(db, actor, user_id)


@router.post("/users/{user_id}/unlock", response_model=UserOut, summary="Unlock a locked-out user")
async def unlock_user(user_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.USERS_MANAGE)):
    return await actions.do_unlock_user(db, actor, user_id)


@router.post("/users/{user_id}/password", response_model=UserOut, summary="Set a user's password")
async def reset_password(
    user_id: uuid.UUID, body: PasswordReset, db: DB, actor: Actor = Allowed(Permission.USERS_MANAGE)
):
    return await actions.do_reset_password(db, actor, user_id, body.new_password)


@router.post(
    "/users/{user_id}/sessions/end", status_code=status.HTTP_204_NO_CONTENT, summary="Sign a user out everywhere"
)
async def end_sessions(user_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.USERS_MANAGE)) -> None:
    await actions.do_end_user_sessions(db, actor, user_id)


# --------------------------------------------------------------------------- departments


@router.get("/departments", response_model=Page[DepartmentOut], summary="List departments and teams")
async def list_departments(
    db: DB,
    actor: Actor = Allowed(Permission.DEPARTMENTS_READ),
    after: uuid.UUID | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
):
    return keyset_page(await queries.list_departments(db, actor, after=after, limit=limit), limit, DepartmentOut)


@router.post(
    "/departments",
    response_model=DepartmentOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a department or team",
)
async def create_department(body: DepartmentCreate, db: DB, actor: Actor = Allowed(Permission.DEPARTMENTS_MANAGE)):
    return await actions.do_create_department(db, actor, **body.model_dump())


@router.get("/departments/{department_id}", response_model=DepartmentOut, summary="Get a department")
async def get_department(department_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.DEPARTMENTS_READ)):
    return await access_department_by_id(db, actor, department_id)


@router.patch("/departments/{department_id}", response_model=DepartmentOut, summary="Change a department")
async def update_department(
    department_id: uuid.UUID, body: DepartmentUpdate, db: DB, actor: Actor = Allowed(Permission.DEPARTMENTS_MANAGE)
):
    return await actions.do_update_department(db, actor, department_id, body.model_dump(exclude_unset=True))


@router.delete(
    "/departments/{department_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete an empty department"
)
async def delete_department(
    department_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.DEPARTMENTS_MANAGE)
) -> None:
    await actions.do_delete_department(db, actor, department_id)


# --------------------------------------------------------------------------- API tokens


@router.get("/api-tokens", response_model=list[ApiTokenOut], summary="List API tokens")
async def list_api_tokens(db: DB, actor: Actor = Allowed(Permission.TOKENS_MANAGE)):
    return await queries.list_api_tokens(db, actor)


@router.post(
    "/api-tokens",
    response_model=ApiTokenCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API token (the secret is shown once)",
)
async def create_api_token(body: ApiTokenCreate, db: DB, actor: Actor = Allowed(Permission.TOKENS_MANAGE)):
    row, secret = await actions.do_create_api_token(db, actor, **body.model_dump())
    return ApiTokenCreated(**ApiTokenOut.model_validate(row).model_dump(), token=secret)


@router.get("/api-tokens/{token_id}", response_model=ApiTokenOut, summary="Get an API token's metadata")
async def get_api_token(token_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.TOKENS_MANAGE)):
    return await access_api_token_by_id(db, actor, token_id)


@router.post("/api-tokens/{token_id}/revoke", response_model=ApiTokenOut, summary="Revoke an API token")
async def revoke_api_token(token_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.TOKENS_MANAGE)):
    return await actions.do_revoke_api_token(db, actor, token_id)


# --------------------------------------------------------------------------- settings and roles


@router.get("/settings", response_model=TenantSettingsOut, summary="Organisation settings")
async def get_settings(tenant: CurrentTenant, actor: Actor = Allowed(Permission.SETTINGS_READ)):
    return tenant


@router.patch("/settings", response_model=TenantSettingsOut, summary="Change organisation settings")
async def update_settings(
    body: TenantSettingsUpdate, db: DB, tenant: CurrentTenant, actor: Actor = Allowed(Permission.SETTINGS_MANAGE)
):
    return await actions.do_update_tenant_settings(db, actor, tenant, body.model_dump(exclude_unset=True))


@router.get("/roles", response_model=list[RoleOut], summary="Roles and the permissions they grant")
async def list_roles(actor: Actor = Allowed(Permission.USERS_READ)):
    return [RoleOut(name=role.value, permissions=sorted(perms)) for role, perms in ROLE_PERMISSIONS.items()]
