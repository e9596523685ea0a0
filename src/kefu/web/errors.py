"""Map errors to RFC 9457 problem details (API) or friendly pages (browser)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from kefu.core.errors import KefuError, NotAuthenticated, TooManyRequests

log = logging.getLogger("kefu.web")

PROBLEM_BASE = "https://kefu.dev/problems/"
PROBLEM_JSON = "application/problem+json"


def problem(status: int, code: str, title: str, detail: str, instance: str, **extra: Any) -> JSONResponse:
    body = {"type": PROBLEM_BASE + code, "title": title, "status": status, "detail": detail, "instance": instance}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or str(loc[0] if loc else "request")


def _validation_message(err: dict[str, Any]) -> str:
    field = _field_name(tuple(err.get("loc", ())))
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return f"Unknown field '{field}'; remove it."
    if kind == "missing":
        return f"'{field}' is required."
    if kind == "json_invalid":
        return "The request body is not valid JSON."
    if kind in ("model_attributes_type", "dict_type") and field in ("", "request"):
        return "The request body must be a JSON object."
    return f"'{field}': {err.get('msg', 'invalid value')}."


async def _kefu_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KefuError)
    headers = {}
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    if _is_api(request):
        response = problem(exc.status, exc.code, exc.title, exc.detail, request.url.path, **exc.extra)
        response.headers.update(headers)
        return response
    if isinstance(exc, NotAuthenticated) and request.method == "GET":
        tenant = request.path_params.get("tenant")
        if tenant:
            return RedirectResponse(f"/t/{tenant}/login?next={request.url.path}", status_code=303)
    from kefu.web.templating import render_error

    return render_error(request, exc.status, exc.title, exc.detail, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field_name(tuple(e.get("loc", ()))), "message": _validation_message(e), "type": e.get("type")}
        for e in exc.errors()
    ]
    detail = " ".join(e["message"] for e in errors[:3]) or "The request is not valid."
    if len(errors) > 3:
        detail += f" (and {len(errors) - 3} more)"
    if not _is_api(request):
        from kefu.web.templating import render_error

        return render_error(request, 422, "Invalid input", detail)
    return problem(422, "invalid-input", "Invalid input", detail, request.url.path, errors=errors)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    messages = {
        404: ("not-found", "Not found", "There is nothing at this address."),
        405: ("method-not-allowed", "Method not allowed", f"{request.method} is not allowed here."),
    }
    code, title, detail = messages.get(exc.status_code, ("http-error", "Error", str(exc.detail)))
    if not _is_api(request):
        from kefu.web.templating import render_error

        return render_error(request, exc.status_code, title, detail, headers=exc.headers)
    response = problem(exc.status_code, code, title, detail, request.url.path)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    reference = uuid.uuid4().hex[:12]
    log.exception("unhandled error (reference %s) on %s %s", reference, request.method, request.url.path)
    return problem(
        500,
        "internal-error",
        "Internal error",
        f"Something went wrong on our side; nothing was changed. Reference: {reference}.",
        request.url.path,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(KefuError, _kefu_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
