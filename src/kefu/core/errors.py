"""Domain errors. The web layer maps them to RFC 9457 problem details.

Raise these from actions, access functions and rules; never raise HTTP
exceptions below the web layer. Each error has a stable ``code`` (the last
part of the problem ``type`` URI) and a message a person can act on.
"""

from __future__ import annotations

from typing import Any


class KefuError(Exception):
    status: int = 400
    code: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra


class InvalidInput(KefuError):
    status = 422
    code = "invalid-input"
    title = "Invalid input"


class NotAuthenticated(KefuError):
    status = 401
    code = "not-authenticated"
    title = "Not authenticated"


class PermissionDenied(KefuError):
    status = 403
    code = "permission-denied"
    title = "Permission denied"


class NotFound(KefuError):
    """Also raised for rows of another tenant: never reveal that they exist."""

    status = 404
    code = "not-found"
    title = "Not found"


class Conflict(KefuError):
    status = 409
    code = "conflict"
    title = "Conflict"


class Gone(KefuError):
    status = 410
    code = "gone"
    title = "Gone"


class TooManyRequests(KefuError):
    status = 429
    code = "too-many-requests"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail, code=code, **extra)
        self.retry_after = retry_after


class PayloadTooLarge(KefuError):
    status = 413
    code = "payload-too-large"
    title = "Request too large"
