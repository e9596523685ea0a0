"""Server-rendered pages of the tenancy domain: sign-in, home, user and department management."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kefu.core import i18n
from kefu.core.actor import Actor
from kefu.core.crypto import constant_time_equal, new_token
from kefu.core.errors import KefuError, NotAuthenticated, NotFound, PermissionDenied, TooManyRequests
from kefu.tenancy import actions, queries
from kefu.tenancy.access import access_user_by_id
from kefu.tenancy.api import set_session_cookie
from kefu.tenancy.models import Tenant
from kefu.tenancy.rules import Permission, Role
from kefu.web.deps import DB, SESSION_COOKIE, CurrentTenant, Require, client_ip
from kefu.web.templating import render

LOGIN_CSRF_COOKIE = "kefu_login_csrf"
LANG_COOKIE = "kefu_lang"

router = APIRouter(include_in_schema=False)

#: What the sign-in page says for each refusal (the API's detail can carry times and counts).
LOGIN_ERRORS = {
    "invalid-credentials": i18n.N_("Wrong username or password."),
    "account-locked": i18n.N_(
        "This account is locked after too many failed sign-ins. Try again later or ask an administrator."
    ),
    "login-throttled": i18n.N_("Too many sign-in attempts from your address. Wait a minute and try again."),
    "account-disabled": i18n.N_("This account is disabled. Ask your administrator to enable it."),
    "totp-required": i18n.N_("Enter the 6-digit code from your authenticator app."),
    "invalid-totp": i18n.N_("The authenticator code is wrong or was already used; wait for the next code."),
}


async def page_locale(request: Request, tenant: CurrentTenant) -> Tenant:
    # The person's choice (cookie), then their browser's, then the organisation's default.
    if not request.cookies.get(LANG_COOKIE) and not i18n.negotiate(request.headers.get("accept-language")):
        i18n.set_locale(tenant.locale)
    # A plain copy for error pages, which render after the transaction (and its objects) are gone.
    request.state.tenant = SimpleNamespace(id=tenant.id, slug=tenant.slug, name=tenant.name)
    return tenant


PageTenant = Annotated[Tenant, Depends(page_locale)]


def Signed(permission: Permission | None = None) -> object:
    return Depends(Require(permission))


def _safe_next(tenant: Tenant, target: str | None) -> str:
    home = f"/t/{tenant.slug}/"
    if not target:
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(f"/t/{tenant.slug}/") or "//" in parts.path:
        return home
    return parts.path


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


# --------------------------------------------------------------------------- language


@router.get("/lang")
async def switch_language(request: Request, to: str, next: str = "/") -> Response:
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    if to in i18n.LOCALES:
        response.set_cookie(LANG_COOKIE, to, max_age=365 * 86400, samesite="lax", path="/")
    return response


@router.get("/", response_class=HTMLResponse)
async def landing(request: Request) -> Response:
    return render(request, "landing.html")


# --------------------------------------------------------------------------- sign-in


def _login_page(
    request: Request,
    tenant: Tenant,
    *,
    error: str | None = None,
    status: int = 200,
    username: str = "",
    need_totp: bool = False,
    next_url: str | None = None,
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_token(nbytes=24)
    response = render(
        request,
        "tenancy/login.html",
        status_code=status,
        tenant=tenant,
        error=error,
        username=username,
        need_totp=need_totp,
        login_csrf=token,
        next_url=next_url or "",
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path=f"/t/{tenant.slug}/login")
    return response


@router.get("/t/{tenant}/login", response_class=HTMLResponse)
async def login_page(request: Request, tenant: PageTenant, next: str | None = None) -> Response:
    return _login_page(request, tenant, next_url=next)


@router.post("/t/{tenant}/login", response_class=HTMLResponse)
async def login_submit(
    request: Request,
    db: DB,
    tenant: PageTenant,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    totp_code: Annotated[str, Form(max_length=6)] = "",
    next: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not constant_time_equal(expected, csrf_token):
        return _login_page(
            request,
            tenant,
            status=403,
            username=username,
            error=i18n.gettext("The sign-in form expired. Please try again."),
        )
    try:
        result = await actions.do_login(
            db,
            tenant,
            username=username,
            password=password,
            totp_code=totp_code or None,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )
    except (NotAuthenticated, TooManyRequests) as exc:
        if not db.info.get("commit_on_error"):
            await db.rollback()
        need_totp = exc.code in ("totp-required", "invalid-totp")
        return _login_page(
            request,
            tenant,
            status=exc.status,
            username=username,
            need_totp=need_totp,
            error=i18n.gettext(LOGIN_ERRORS.get(exc.code, exc.detail)),
            next_url=next,
        )
    response = RedirectResponse(_safe_next(tenant, next), status_code=303)
    set_session_cookie(request, response, result.token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=f"/t/{tenant.slug}/login")
    return response


@router.post("/t/{tenant}/logout")
async def logout(db: DB, tenant: PageTenant, actor: Actor = Signed()) -> Response:
    await actions.do_logout(db, actor)
    response = RedirectResponse(f"/t/{tenant.slug}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --------------------------------------------------------------------------- home


@router.get("/t/{tenant}/", response_class=HTMLResponse)
async def home(request: Request, db: DB, tenant: PageTenant, actor: Actor = Signed()) -> Response:
    user = await access_user_by_id(db, actor, actor.user_id) if actor.user_id else None
    return render(request, "tenancy/home.html", tenant=tenant, user=user)


# --------------------------------------------------------------------------- users


async def _users_context(db: DB, actor: Actor) -> dict[str, object]:
    users = await queries.list_users(db, actor, limit=200)
    departments = await queries.all_departments(db, actor)
    return {
        "users": users[:200],
        "departments": departments,
        "department_names": {d.id: d.name for d in departments},
        "roles": [r.value for r in Role],
        "can_manage": actor.can(Permission.USERS_MANAGE),
    }


@router.get("/t/{tenant}/admin/users", response_class=HTMLResponse)
async def users_page(
    request: Request, db: DB, tenant: PageTenant, actor: Actor = Signed(Permission.USERS_READ)
) -> Response:
    return render(request, "tenancy/users.html", tenant=tenant, **await _users_context(db, actor))


@router.post("/t/{tenant}/admin/users", response_class=HTMLResponse)
async def users_create(
    request: Request,
    db: DB,
    tenant: PageTenant,
    username: Annotated[str, Form(max_length=64)],
    display_name: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=256)],
    roles: Annotated[list[str], Form()],
    department_id: Annotated[str, Form()] = "",
    actor: Actor = Signed(Permission.USERS_MANAGE),
) -> Response:
    form = {"username": username, "display_name": display_name, "roles": roles, "department_id": department_id}
    try:
        dep = uuid.UUID(department_id) if department_id else None
        async with db.begin_nested():
            user = await actions.do_create_user(
                db,
                actor,
                username=username,
                display_name=display_name,
                password=password,
                roles=roles,
                department_id=dep,
            )
    except (KefuError, ValueError) as exc:
        message = exc.detail if isinstance(exc, KefuError) else i18n.N_("Choose a department from the list.")
        status = exc.status if isinstance(exc, KefuError) else 422
        if isinstance(exc, PermissionDenied):
            raise
        context = await _users_context(db, actor)
        return render(
            request,
            "tenancy/users.html",
            status_code=status,
            tenant=tenant,
            form=form,
            error=i18n.gettext(message),
            **context,
        )
    if _is_htmx(request):
        context = await _users_context(db, actor)
        return render(request, "tenancy/_users_section.html", tenant=tenant, created=user, **context)
    return RedirectResponse(f"/t/{tenant.slug}/admin/users", status_code=303)


@router.post("/t/{tenant}/admin/users/{user_id}/{operation}", response_class=HTMLResponse)
async def users_operation(
    request: Request,
    db: DB,
    tenant: PageTenant,
    user_id: uuid.UUID,
    operation: str,
    actor: Actor = Signed(Permission.USERS_MANAGE),
) -> Response:
    operations = {
        "disable": actions.do_disable_user,
        "enable": actions.do_enable_user,
        "unlock": actions.do_unlock_user,
    }
    if operation not in operations:
        raise NotFound(f"Unknown operation {operation!r}.")
    await operations[operation](db, actor, user_id)
    if _is_htmx(request):
        context = await _users_context(db, actor)
        return render(request, "tenancy/_users_section.html", tenant=tenant, **context)
    return RedirectResponse(f"/t/{tenant.slug}/admin/users", status_code=303)


# --------------------------------------------------------------------------- departments


@router.get("/t/{tenant}/admin/departments", response_class=HTMLResponse)
async def departments_page(
    request: Request, db: DB, tenant: PageTenant, actor: Actor = Signed(Permission.DEPARTMENTS_READ)
) -> Response:
    departments = await queries.all_departments(db, actor)
    return render(
        request,
        "tenancy/departments.html",
        tenant=tenant,
        departments=departments,
        names={d.id: d.name for d in departments},
        can_manage=actor.can(Permission.DEPARTMENTS_MANAGE),
    )


@router.post("/t/{tenant}/admin/departments", response_class=HTMLResponse)
async def departments_create(
    request: Request,
    db: DB,
    tenant: PageTenant,
    name: Annotated[str, Form(min_length=1, max_length=100)],
    kind: Annotated[str, Form(pattern="^(department|team)$")] = "department",
    code: Annotated[str, Form(max_length=40)] = "",
    parent_id: Annotated[str, Form()] = "",
    description: Annotated[str, Form(max_length=500)] = "",
    actor: Actor = Signed(Permission.DEPARTMENTS_MANAGE),
) -> Response:
    error = None
    try:
        async with db.begin_nested():
            await actions.do_create_department(
                db,
                actor,
                name=name.strip(),
                kind=kind,
                code=code.strip() or None,
                parent_id=uuid.UUID(parent_id) if parent_id else None,
                description=description.strip(),
            )
    except (KefuError, ValueError) as exc:
        if isinstance(exc, PermissionDenied):
            raise
        error = i18n.gettext(exc.detail if isinstance(exc, KefuError) else "Choose a parent from the list.")
    departments = await queries.all_departments(db, actor)
    template = "tenancy/_departments_section.html" if _is_htmx(request) else "tenancy/departments.html"
    return render(
        request,
        template,
        status_code=422 if error and not _is_htmx(request) else 200,
        tenant=tenant,
        departments=departments,
        names={d.id: d.name for d in departments},
        error=error,
        can_manage=True,
    )
