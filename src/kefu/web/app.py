"""The ASGI application factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from kefu import __version__
from kefu.bootstrap import dispose_context
from kefu.core import i18n
from kefu.core.context import Context
from kefu.web.errors import install_error_handlers
from kefu.web.middleware import BodySizeLimit, SecurityHeaders
from kefu.web.templating import STATIC_DIR

log = logging.getLogger("kefu.web")


class LocaleMiddleware:
    """Pick the request's language: the ``kefu_lang`` cookie, else Accept-Language, else the default."""

    def __init__(self, app: ASGIApp, default: str) -> None:
        self.app = app
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers", []))
            locale = None
            cookie = headers.get(b"cookie", b"").decode("latin-1")
            for part in cookie.split(";"):
                name, _, value = part.strip().partition("=")
                if name == "kefu_lang" and value in i18n.LOCALES:
                    locale = value
            locale = locale or i18n.negotiate(headers.get(b"accept-language", b"").decode("latin-1")) or self.default
            i18n.set_locale(locale)
        await self.app(scope, receive, send)


async def check_database_role(ctx: Context) -> None:
    """On PostgreSQL, refuse to serve as a role that row-level security would not bind."""
    if ctx.settings.is_embedded_database or ctx.settings.allow_privileged_database_role:
        return
    assert ctx.session_factory is not None
    async with ctx.session_factory() as session:
        row = (
            await session.execute(
                sa.text(
                    "select r.rolsuper, r.rolbypassrls, "
                    "exists(select 1 from pg_tables where tableowner = current_user and schemaname = 'public') "
                    "from pg_roles r where r.rolname = current_user"
                )
            )
        ).one()
    if any(row):
        raise RuntimeError(
            "The database role in KEFU_DATABASE_URL is a superuser, bypasses row-level security or owns the "
            "tables, so tenant isolation would not hold. Connect as the application role (see "
            "KEFU_DATABASE_APP_ROLE) or set KEFU_ALLOW_PRIVILEGED_DATABASE_ROLE=1 for development."
        )


def create_app(ctx: Context) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await check_database_role(ctx)
        ctx.services["loop"] = asyncio.get_running_loop()
        if "telephony" in ctx.services:
            from kefu.contacts.controller import ensure_started

            await ensure_started(ctx)
        for hook in ctx.services.get("startup_hooks", []):
            await hook(app)
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        if ctx.settings.run_background_services:
            from kefu.domains import background_services

            tasks = [
                asyncio.create_task(service(ctx, stop), name=getattr(service, "__qualname__", "service"))
                for service in background_services()
            ]
        try:
            yield
        finally:
            stop.set()
            if tasks:
                _done, pending = await asyncio.wait(tasks, timeout=10)
                for task in pending:
                    task.cancel()
            for hook in reversed(ctx.services.get("shutdown_hooks", [])):
                await hook(app)
            await dispose_context(ctx)

    app = FastAPI(
        title="kefu",
        version=__version__,
        description="Multi-tenant cloud contact center with centralized complaint handling.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.context = ctx
    install_error_handlers(app)

    from kefu.domains import routers

    for router in routers():
        app.include_router(router)
    for extra in ctx.services.get("routers", []):
        app.include_router(extra)

    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return RedirectResponse("/static/favicon.svg", status_code=301)

    @app.get("/healthz", include_in_schema=False)
    async def healthz(request: Request) -> Response:
        return Response("ok", media_type="text/plain")

    app.add_middleware(LocaleMiddleware, default=ctx.settings.default_locale)
    app.add_middleware(BodySizeLimit, max_bytes=ctx.settings.max_request_bytes)
    app.add_middleware(SecurityHeaders)
    return app
