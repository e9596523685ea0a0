"""FastAPI dependencies: the request's transaction, tenant and actor, and permission checks.

Route handlers stay thin: they declare ``db``, ``tenant`` and ``Require(...)``
and call one action or query.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.core.actor import Actor
from kefu.core.context import Context
from kefu.core.crypto import constant_time_equal
from kefu.core.db import bind_tenant, commit, rollback
from kefu.core.errors import KefuError, NotAuthenticated, PermissionDenied
from kefu.tenancy.actions import authenticate_api_token, authenticate_operator, authenticate_session
from kefu.tenancy.models import Tenant
from kefu.tenancy.queries import tenant_by_slug
from kefu.tenancy.rules import Permission

SESSION_COOKIE = "kefu_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_context(request: Request) -> Context:
    return request.app.state.context


async def _transaction(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, owned here: commit if the handler returns, else roll back.

    Runs with ``scope="function"``: the commit happens before the response is
    sent, so a failed commit turns into an error response, never a false 200.
    """
    ctx = get_context(request)
    assert ctx.session_factory is not None
    async with ctx.session_factory() as session:
        try:
            yield session
        except KefuError:
            if session.info.get("commit_on_error"):
                session.info.pop("after_commit", None)
                await session.commit()
            else:
                await rollback(session)
            raise
        except BaseException:
            await rollback(session)
            raise
        else:
            await commit(session)


DB = Annotated[AsyncSession, Depends(_transaction, scope="function")]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def current_tenant(
    db: DB, tenant: Annotated[str, Path(description="The organisation's slug", max_length=40)]
) -> Tenant:
    row = await tenant_by_slug(db, tenant)
    await bind_tenant(db, row.id)
    return row


CurrentTenant = Annotated[Tenant, Depends(current_tenant)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise NotAuthenticated("Use 'Authorization: Bearer <token>' with an API token.", code="invalid-token")
    return value.strip()


async def _check_csrf(request: Request, expected: str) -> None:
    supplied = request.headers.get(CSRF_HEADER)
    if supplied is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FORM_FIELD)
            supplied = value if isinstance(value, str) else None
    if not supplied or not constant_time_equal(supplied, expected):
        raise PermissionDenied(
            "Missing or wrong CSRF token. Reload the page and try again; API clients send the "
            "X-CSRF-Token header returned at sign-in.",
            code="csrf-failed",
        )


async def current_actor(request: Request, db: DB, tenant: CurrentTenant) -> Actor:
    """The signed-in person (session cookie) or machine client (API token) for this tenant."""
    ip = client_ip(request)
    user_agent = request.headers.get("user-agent")
    token = _bearer(request)
    if token is not None:
        actor = await authenticate_api_token(db, tenant, token)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise NotAuthenticated("Sign in first.", code="not-authenticated")
        actor, user_session = await authenticate_session(db, tenant, cookie)
        if request.method not in SAFE_METHODS:
            await _check_csrf(request, user_session.csrf_token)
        request.state.csrf_token = user_session.csrf_token
    actor = actor.with_origin(ip, user_agent)
    request.state.actor = actor
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]


class Require:
    """Dependency: the actor must hold ``permission`` (None: any authenticated actor).

    The permission is kept on the instance so tests can read every route's
    requirement from the route table.
    """

    def __init__(self, permission: Permission | None) -> None:
        self.permission = permission

    async def __call__(self, actor: CurrentActor) -> Actor:
        if self.permission is not None and not actor.can(self.permission):
            raise PermissionDenied(f"You need the '{self.permission}' permission for this; ask your administrator.")
        return actor

    def __repr__(self) -> str:
        return f"Require({self.permission})"


def requires(permission: Permission | None) -> type[Actor]:
    """``actor: requires(Permission.X)`` in a handler signature."""
    return Annotated[Actor, Depends(Require(permission))]  # type: ignore[return-value]


async def current_operator(request: Request, db: DB) -> Actor:
    token = _bearer(request) or request.cookies.get("kefu_operator")
    if not token:
        raise NotAuthenticated("Sign in as a platform operator first.", code="not-authenticated")
    actor = await authenticate_operator(db, token)
    return actor.with_origin(client_ip(request), request.headers.get("user-agent"))


CurrentOperator = Annotated[Actor, Depends(current_operator)]
