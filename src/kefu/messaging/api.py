"""HTTP API of the messaging domain.

* Staff (``/api/v1/t/{tenant}/sms/…``): list outgoing and received messages (numbers masked;
  ``sms.read``), see one message's history, retry a dead message (``sms.manage``, audited).
* Provider callbacks (``/api/v1/sms/callbacks/{tenant}/delivery|inbound``): authenticated only by
  an HMAC-SHA256 signature with ``KEFU_SMS_HTTP_SECRET`` over ``<timestamp>.<path>.<body>``
  (headers ``X-Kefu-Timestamp``, ``X-Kefu-Signature: v1=<hex>``); a timestamp more than
  ``KEFU_SMS_CALLBACK_TOLERANCE_SECONDS`` away is refused as a replay. No user session applies.

Handlers parse, call one action or query, serialise.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from kefu.core.actor import Actor
from kefu.core.context import context_of
from kefu.core.db import bind_tenant
from kefu.core.errors import NotAuthenticated
from kefu.core.pii import TenantCrypto
from kefu.core.schemas import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from kefu.messaging import actions, queries
from kefu.messaging.access import access_sms_message_by_id
from kefu.messaging.models import SmsInbound, SmsMessage
from kefu.messaging.rules import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    InboundStatus,
    SmsStatus,
    mask_numbers_in_text,
    signature_problem,
)
from kefu.messaging.schemas import (
    CallbackAccepted,
    DeliveryReport,
    InboundReport,
    SmsInboundOut,
    SmsMessageDetail,
    SmsMessageOut,
)
from kefu.tenancy import Permission, tenant_by_slug
from kefu.web.deps import DB, CurrentTenant, Require, get_context

router = APIRouter(tags=["sms"])

STAFF = "/api/v1/t/{tenant}/sms"
CALLBACKS = "/api/v1/sms/callbacks/{tenant}"

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
TenantSlug = Annotated[str, Path(description="The organisation's slug", max_length=40)]


def Allowed(permission: Permission) -> Any:
    return Depends(Require(permission))


# --------------------------------------------------------------------------- serialisation


def message_out(row: SmsMessage, crypto: TenantCrypto, *, detail: bool = False) -> SmsMessageOut:
    model = SmsMessageDetail if detail else SmsMessageOut
    data = {name: getattr(row, name) for name in model.model_fields if hasattr(row, name)}
    data["to_number"] = row.to_number_masked
    data["body"] = mask_numbers_in_text(crypto.open(row.body_enc, row_id=row.id, field="body") or "")
    if row.dedupe_key:
        data["dedupe_key"] = mask_numbers_in_text(row.dedupe_key)
    return model.model_validate(data)


def inbound_out(row: SmsInbound, crypto: TenantCrypto) -> SmsInboundOut:
    data = {name: getattr(row, name) for name in SmsInboundOut.model_fields if hasattr(row, name)}
    data["from_number"] = row.from_number_masked
    data["body"] = mask_numbers_in_text(crypto.open(row.body_enc, row_id=row.id, field="body") or "")
    return SmsInboundOut.model_validate(data)


def _page(rows: list[Any], limit: int, items: list[Any]) -> dict[str, Any]:
    return {"items": items[:limit], "next_after": str(rows[limit - 1].id) if len(rows) > limit else None}


# --------------------------------------------------------------------------- staff


@router.get(STAFF + "/messages", response_model=Page[SmsMessageOut], summary="List outgoing SMS (numbers masked)")
async def list_messages(
    db: DB,
    tenant: CurrentTenant,
    actor: Actor = Allowed(Permission.SMS_READ),
    after: uuid.UUID | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    purpose: Annotated[str | None, Query(max_length=40)] = None,
    status: SmsStatus | None = None,
    reference_type: Annotated[str | None, Query(max_length=40)] = None,
    reference_id: Annotated[str | None, Query(max_length=64)] = None,
):
    rows = await queries.list_messages(
        db,
        actor,
        after=after,
        limit=limit,
        purpose=purpose,
        status=status.value if status else None,
        reference_type=reference_type,
        reference_id=reference_id,
    )
    crypto = context_of(db).pii(tenant)
    return _page(rows, limit, [message_out(r, crypto) for r in rows[:limit]])


@router.get(
    STAFF + "/messages/{message_id}",
    response_model=SmsMessageDetail,
    summary="One outgoing SMS with its status history",
)
async def get_message(
    message_id: uuid.UUID, db: DB, tenant: CurrentTenant, actor: Actor = Allowed(Permission.SMS_READ)
):
    row = await access_sms_message_by_id(db, actor, message_id)
    return message_out(row, context_of(db).pii(tenant), detail=True)


@router.post(STAFF + "/messages/{message_id}/retry", response_model=SmsMessageOut, summary="Send a dead message again")
async def retry_message(
    message_id: uuid.UUID, db: DB, tenant: CurrentTenant, actor: Actor = Allowed(Permission.SMS_MANAGE)
):
    row = await actions.do_retry_sms(db, actor, message_id)
    return message_out(row, context_of(db).pii(tenant))


@router.get(STAFF + "/inbound", response_model=Page[SmsInboundOut], summary="List received SMS (numbers masked)")
async def list_inbound(
    db: DB,
    tenant: CurrentTenant,
    actor: Actor = Allowed(Permission.SMS_READ),
    after: uuid.UUID | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    status: InboundStatus | None = None,
    matched_message_id: uuid.UUID | None = None,
):
    rows = await queries.list_inbound(
        db,
        actor,
        after=after,
        limit=limit,
        status=status.value if status else None,
        matched_message_id=matched_message_id,
    )
    crypto = context_of(db).pii(tenant)
    return _page(rows, limit, [inbound_out(r, crypto) for r in rows[:limit]])


# --------------------------------------------------------------------------- provider callbacks


def _documented_body(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


async def _signed_body(request: Request) -> bytes:
    """The raw body, once its signature and timestamp are checked (401 otherwise)."""
    ctx = get_context(request)
    secret = ctx.settings.sms_http_secret
    if secret is None:
        raise NotAuthenticated(
            "SMS provider callbacks are turned off on this server (KEFU_SMS_HTTP_SECRET is not set).",
            code="callbacks-disabled",
        )
    body = await request.body()
    problem = signature_problem(
        secret.get_secret_value().encode(),
        signature=request.headers.get(SIGNATURE_HEADER),
        timestamp=request.headers.get(TIMESTAMP_HEADER),
        path=request.url.path,
        body=body,
        now=ctx.clock.now(),
        tolerance=ctx.settings.sms_callback_tolerance_seconds,
    )
    if problem:
        raise NotAuthenticated(problem, code="bad-signature")
    return body


def _body_error(error: Any) -> dict[str, Any]:
    if not error["loc"] and error["type"] == "model_type":  # a JSON list or string instead of an object
        return {**error, "type": "dict_type"}
    return {**error, "loc": ("body", *error["loc"])}


def _parse(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = [_body_error(e) for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


@router.post(
    CALLBACKS + "/delivery",
    response_model=CallbackAccepted,
    openapi_extra=_documented_body(DeliveryReport),
    summary="Provider delivery report (HMAC-signed)",
)
async def delivery_callback(tenant: TenantSlug, request: Request, db: DB):
    report: DeliveryReport = _parse(DeliveryReport, await _signed_body(request))
    row = await tenant_by_slug(db, tenant)
    await bind_tenant(db, row.id)
    message = await actions.do_record_delivery(db, row, report.provider_message_id, report.status, report.error)
    return CallbackAccepted(id=message.id, status=message.status)


@router.post(
    CALLBACKS + "/inbound",
    response_model=CallbackAccepted,
    openapi_extra=_documented_body(InboundReport),
    summary="Provider forwards a received SMS (HMAC-signed)",
)
async def inbound_callback(tenant: TenantSlug, request: Request, db: DB):
    report: InboundReport = _parse(InboundReport, await _signed_body(request))
    row = await tenant_by_slug(db, tenant)
    await bind_tenant(db, row.id)
    inbound = await actions.do_receive_inbound(db, row, report.from_number, report.body, report.provider_message_id)
    return CallbackAccepted(id=inbound.id, status=inbound.status)
