"""Jinja2 environment for server-rendered pages (htmx for partial updates)."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kefu.core import i18n

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"


@cache
def _asset_version(path: str) -> str:
    file = STATIC_DIR / path
    if not file.exists():
        return "missing"
    return hashlib.sha256(file.read_bytes()).hexdigest()[:10]


def static_url(path: str) -> str:
    return f"/static/{path}?v={_asset_version(path)}"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    from kefu.domains import NAV
    from kefu.tenancy.rules import ROLE_LABELS

    env.globals.update(static_url=static_url, locales=i18n.LOCALE_NAMES, role_labels=ROLE_LABELS, nav_items=NAV)
    env.filters["dt"] = lambda value, fmt="%Y-%m-%d %H:%M": value.strftime(fmt) if value else ""
    return env


def render(
    request: Request, template: str, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    context.setdefault("request", request)
    context.setdefault("locale", i18n.get_locale())
    context.setdefault("csrf_token", getattr(request.state, "csrf_token", None))
    context.setdefault("actor", getattr(request.state, "actor", None))
    context.setdefault("tenant", getattr(request.state, "tenant", None))
    html = environment().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=headers)


def render_error(
    request: Request, status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> HTMLResponse:
    return render(
        request,
        "error.html",
        status_code=status,
        headers=headers,
        status=status,
        title=title,
        detail=detail,
        tenant_slug=request.path_params.get("tenant"),
    )
