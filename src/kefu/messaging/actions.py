"""Writes of the messaging domain: queue an SMS (the outbox), receive replies, record delivery.

Everything runs in the caller's transaction and only flushes:

* :func:`queue_sms` is called by other domains *in the transaction of the change that causes the
  SMS* (a missed call, a resolved work order …). If that change rolls back, so does the message,
  and nothing is sent; if it commits, the relay sends it. This is the outbox pattern.
* :func:`sent_recently` answers "was an SMS with this purpose sent to this number since T" for
  per-caller windows (one missed-call SMS per caller per window).
* :func:`do_receive_inbound` stores a received SMS, matches it to the latest outbound message to
  that number that expects a reply, and hands it to the reply handler registered for that
  message's purpose (:func:`register_reply_handler`).
* :func:`do_record_delivery` applies a provider's delivery report.
* :func:`claim_due_messages` / :func:`record_send_result` are the relay's two steps
  (see :mod:`kefu.messaging.relay`); :func:`do_retry_sms` re-queues a dead message for staff.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from kefu import audit
from kefu.core.actor import Actor
from kefu.core.context import context_of
from kefu.core.db import bound_tenant
from kefu.core.errors import Conflict, InvalidInput, NotFound
from kefu.core.ids import new_id
from kefu.core.pii import InvalidPhoneNumber, mask_phone, normalize_phone
from kefu.messaging.access import access_sms_message_by_id
from kefu.messaging.models import SmsInbound, SmsMessage
from kefu.messaging.port import OutgoingSms, SendResult
from kefu.messaging.rules import (
    MAX_DEDUPE_KEY,
    MAX_HISTORY,
    MAX_REFERENCE_ID,
    PENDING_STATUSES,
    REFERENCE_TYPE_RE,
    REPLY_WINDOW,
    RETRYABLE_STATUSES,
    SENDER_ID_RE,
    InboundStatus,
    SmsStatus,
    body_problem,
    purpose_problem,
)
from kefu.tenancy import Permission, Tenant, require

log = logging.getLogger("kefu.messaging")

MAX_INBOUND_BODY = 1600


def _invalid(detail: str, field: str | None = None) -> InvalidInput:
    return InvalidInput(detail, errors=[{"field": field, "message": detail}] if field else [])


def _check_bound(session: AsyncSession, tenant: Tenant) -> None:
    if bound_tenant(session) != tenant.id:
        raise RuntimeError("messaging: the session is not bound to this tenant (call bind_tenant first)")


def _number(raw: str, field: str) -> str:
    try:
        return normalize_phone(raw)
    except InvalidPhoneNumber as exc:
        raise _invalid(f"{exc} Give a mobile number such as 13812341234 or +8613812341234.", field) from None


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert


def _log(message: SmsMessage, at: datetime, status: str, **extra: Any) -> None:
    entry = {"at": at.isoformat(), "status": status, "attempt": message.attempts}
    entry.update({k: v for k, v in extra.items() if v is not None})
    message.history = [*(message.history or []), entry][-MAX_HISTORY:]


# --------------------------------------------------------------------------- queueing


async def queue_sms(
    session: AsyncSession,
    *,
    tenant: Tenant,
    to_number: str,
    body: str,
    purpose: str,
    reference_type: str | None = None,
    reference_id: Any = None,
    dedupe_key: str | None = None,
    expects_reply: bool = False,
    sender_id: str | None = None,
) -> SmsMessage:
    """Put one SMS in the outbox, in the caller's transaction; the relay sends it after commit.

    ``to_number`` is normalised to E.164 (``InvalidInput`` if it is not a phone number); ``body``
    must be 1-500 characters. With a ``dedupe_key``, queueing the same key again in this tenant
    returns the message queued first and adds nothing. Records no audit event (the change that
    causes the SMS is what gets audited).
    """
    _check_bound(session, tenant)
    if problem := purpose_problem(purpose):
        raise _invalid(problem, "purpose")
    number = _number(to_number, "to_number")
    body = (body or "").strip()
    if problem := body_problem(body):
        raise _invalid(problem, "body")
    if reference_type is not None and not REFERENCE_TYPE_RE.match(reference_type):
        raise _invalid(f"reference_type {reference_type!r} must be a lowercase name such as 'call'.", "reference_type")
    ref_id = str(reference_id) if reference_id is not None else None
    if ref_id is not None and not 0 < len(ref_id) <= MAX_REFERENCE_ID:
        raise _invalid(f"reference_id must be 1-{MAX_REFERENCE_ID} characters.", "reference_id")
    if dedupe_key is not None and not 0 < len(dedupe_key) <= MAX_DEDUPE_KEY:
        raise _invalid(f"dedupe_key must be 1-{MAX_DEDUPE_KEY} characters.", "dedupe_key")
    ctx = context_of(session)
    sender = sender_id or ctx.settings.sms_sender_id
    if not SENDER_ID_RE.match(sender):
        raise _invalid("sender_id must be 1-20 letters, digits, spaces, '.', '_' or '-'.", "sender_id")
    crypto = ctx.pii(tenant)
    now = ctx.now()
    message_id = new_id()
    values: dict[str, Any] = {
        "id": message_id,
        "tenant_id": tenant.id,
        "purpose": purpose,
        "to_number_enc": crypto.seal(number, row_id=message_id, field="to_number"),
        "to_number_index": crypto.phone_index(number),
        "to_number_masked": mask_phone(number),
        "body_enc": crypto.seal(body, row_id=message_id, field="body"),
        "sender_id": sender,
        "reference_type": reference_type,
        "reference_id": ref_id,
        "dedupe_key": dedupe_key,
        "expects_reply": expects_reply,
        "status": SmsStatus.QUEUED.value,
        "attempts": 0,
        "next_attempt_at": now,
        "fence": 0,
        "generation": 0,
        "history": [{"at": now.isoformat(), "status": SmsStatus.QUEUED.value, "attempt": 0}],
        "created_at": now,
        "updated_at": now,
    }
    if dedupe_key is None:
        message = SmsMessage(**values)
        session.add(message)
        await session.flush()
        return message
    # Insert-or-keep in one statement: two transactions racing on one key cannot both insert.
    await session.execute(
        _insert(session)(SmsMessage).values(**values).on_conflict_do_nothing(index_elements=["tenant_id", "dedupe_key"])
    )
    stmt = sa.select(SmsMessage).where(SmsMessage.tenant_id == tenant.id, SmsMessage.dedupe_key == dedupe_key)
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one()


def _window_lock_key(tenant_id: uuid.UUID, number_index: str, purpose: str) -> int:
    digest = hashlib.sha256(f"sms-window:{tenant_id}:{number_index}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def sent_recently(
    session: AsyncSession, tenant: Tenant, to_number: str, purpose: str, since: datetime, *, lock: bool = True
) -> bool:
    """Was an SMS with ``purpose`` queued for ``to_number`` at or after ``since`` (and not given up)?

    Counts queued, sending, sent, delivered and failed-but-retrying messages — everything except
    ``dead`` — so two missed calls a second apart give one SMS. With ``lock`` (the default) the
    check takes a transaction-scoped lock on (tenant, number, purpose) on PostgreSQL, so
    "check, then :func:`queue_sms`" in one transaction is race-free; SQLite's write lock already
    serialises such transactions.
    """
    _check_bound(session, tenant)
    number = _number(to_number, "to_number")
    index = context_of(session).pii(tenant).phone_index(number)
    if lock and _dialect(session) == "postgresql":
        await session.execute(
            sa.text("select pg_advisory_xact_lock(:key)"), {"key": _window_lock_key(tenant.id, index, purpose)}
        )
    stmt = (
        sa.select(SmsMessage.id)
        .where(
            SmsMessage.tenant_id == tenant.id,
            SmsMessage.to_number_index == index,
            SmsMessage.created_at >= since,
            SmsMessage.purpose == purpose,
            SmsMessage.status != SmsStatus.DEAD.value,
        )
        .limit(1)
    )
    return (await session.execute(stmt)).first() is not None


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True, slots=True)
class InboundSms:
    """A received SMS as reply handlers see it (decrypted)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    from_number: str  # E.164, in full: do not log or show it unmasked
    body: str
    provider_message_id: str | None
    received_at: datetime
    matched_message_id: uuid.UUID | None


#: ``async handler(session, tenant, inbound, original) -> None``
ReplyHandler = Callable[[AsyncSession, Tenant, InboundSms, SmsMessage], Awaitable[None]]
_REPLY_HANDLERS: dict[str, ReplyHandler] = {}


def register_reply_handler(purpose: str, handler: ReplyHandler, *, replace: bool = False) -> ReplyHandler:
    """Route replies to messages of ``purpose`` (e.g. ``survey``) to ``handler``.

    The handler is awaited as ``handler(session, tenant, inbound, original)`` inside the
    transaction that stores the reply, within a savepoint: it may read and write (flush, never
    commit); if it raises, its writes are rolled back, the reply is kept with status
    ``handler_failed`` and the error text, and the provider still gets its 200. ``inbound`` is an
    :class:`InboundSms` (decrypted), ``original`` the :class:`SmsMessage` it answers (use its
    ``reference_type``/``reference_id``). A reply is dispatched once: a provider re-sending the
    same inbound message id is stored once and not dispatched again.
    """
    if problem := purpose_problem(purpose):
        raise ValueError(problem)
    existing = _REPLY_HANDLERS.get(purpose)
    if existing is not None and existing is not handler and not replace:
        raise ValueError(f"a reply handler for SMS purpose {purpose!r} is already registered")
    _REPLY_HANDLERS[purpose] = handler
    return handler


def unregister_reply_handler(purpose: str) -> None:
    _REPLY_HANDLERS.pop(purpose, None)


def reply_handler_for(purpose: str) -> ReplyHandler | None:
    return _REPLY_HANDLERS.get(purpose)


async def do_receive_inbound(
    session: AsyncSession,
    tenant: Tenant,
    from_number: str,
    body: str,
    provider_message_id: str | None = None,
    *,
    received_at: datetime | None = None,
) -> SmsInbound:
    """Store a received SMS, match it to the message it answers and dispatch it to a reply handler.

    The match is the most recent outbound message to the same number with ``expects_reply``
    that the provider accepted within the last 7 days. Unmatched replies are stored (status
    ``unmatched``) and listed for staff. Idempotent on ``provider_message_id``.
    """
    _check_bound(session, tenant)
    number = _number(from_number, "from")
    body = body or ""
    if len(body) > MAX_INBOUND_BODY:
        raise _invalid(f"The SMS text is {len(body)} characters long; the limit is {MAX_INBOUND_BODY}.", "body")
    if provider_message_id is not None:
        existing = (
            await session.execute(
                sa.select(SmsInbound).where(
                    SmsInbound.tenant_id == tenant.id, SmsInbound.provider_message_id == provider_message_id
                )
            )
        ).scalar_one_or_none()
        if existing is not None:
            return existing
    ctx = context_of(session)
    crypto = ctx.pii(tenant)
    at = received_at or ctx.now()
    index = crypto.phone_index(number)
    original = (
        await session.execute(
            sa.select(SmsMessage)
            .where(
                SmsMessage.tenant_id == tenant.id,
                SmsMessage.to_number_index == index,
                SmsMessage.expects_reply.is_(True),
                SmsMessage.status.in_([SmsStatus.SENT.value, SmsStatus.DELIVERED.value]),
                SmsMessage.sent_at >= at - REPLY_WINDOW,
                SmsMessage.sent_at <= at,
            )
            .order_by(SmsMessage.sent_at.desc(), SmsMessage.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    inbound_id = new_id()
    inbound = SmsInbound(
        id=inbound_id,
        tenant_id=tenant.id,
        from_number_enc=crypto.seal(number, row_id=inbound_id, field="from_number"),
        from_number_index=index,
        from_number_masked=mask_phone(number),
        body_enc=crypto.seal(body, row_id=inbound_id, field="body"),
        provider_message_id=provider_message_id,
        matched_message_id=original.id if original else None,
        status=InboundStatus.UNMATCHED.value,
        received_at=at,
    )
    session.add(inbound)
    await session.flush()
    if original is None:
        return inbound
    handler = _REPLY_HANDLERS.get(original.purpose)
    if handler is None:
        inbound.status = InboundStatus.NO_HANDLER.value
        await session.flush()
        return inbound
    view = InboundSms(
        id=inbound.id,
        tenant_id=tenant.id,
        from_number=number,
        body=body,
        provider_message_id=provider_message_id,
        received_at=at,
        matched_message_id=original.id,
    )
    try:
        async with session.begin_nested():
            await handler(session, tenant, view, original)
    except Exception as exc:
        log.exception("SMS reply handler for %r failed on inbound %s", original.purpose, inbound.id)
        inbound.status = InboundStatus.HANDLER_FAILED.value
        inbound.handler_error = f"{type(exc).__name__}: {exc}"[:500]
    else:
        inbound.status = InboundStatus.HANDLED.value
    await session.flush()
    return inbound


# --------------------------------------------------------------------------- delivery reports

DELIVERED_WORDS = frozenset({"delivered", "delivrd"})
UNDELIVERED_WORDS = frozenset({"failed", "undelivered", "undeliv", "rejected", "expired"})
PROGRESS_WORDS = frozenset({"accepted", "queued", "sending", "sent", "enroute"})
DELIVERY_STATUSES = DELIVERED_WORDS | UNDELIVERED_WORDS | PROGRESS_WORDS


async def do_record_delivery(
    session: AsyncSession, tenant: Tenant, provider_message_id: str, status: str, error: str | None = None
) -> SmsMessage:
    """Apply a provider's delivery report to the message it names (``NotFound`` if none).

    ``delivered`` marks it delivered; ``failed``/``undelivered``/``rejected``/``expired`` mark a
    sent message ``dead`` with the provider's error (staff may retry it); progress reports
    (``accepted``, ``sent`` …) are only added to the history. A report never moves a delivered
    message back.
    """
    _check_bound(session, tenant)
    word = status.strip().lower()
    if word not in DELIVERY_STATUSES:
        raise _invalid(
            f"Unknown delivery status {status!r}; use one of {', '.join(sorted(DELIVERY_STATUSES))}.", "status"
        )
    message = (
        await session.execute(
            sa.select(SmsMessage)
            .where(SmsMessage.tenant_id == tenant.id, SmsMessage.provider_message_id == provider_message_id)
            .order_by(SmsMessage.id.desc())
            .limit(1)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if message is None:
        raise NotFound(f"No SMS with provider message id {provider_message_id!r} in this organisation.")
    now = context_of(session).now()
    error_text = (error or "")[:300] or None
    if word in DELIVERED_WORDS and message.status != SmsStatus.DELIVERED:
        message.status = SmsStatus.DELIVERED.value
        message.delivered_at = now
        message.next_attempt_at = None
        message.last_error = None
        _log(message, now, message.status, by="provider")
    elif word in UNDELIVERED_WORDS and message.status == SmsStatus.SENT:
        message.status = SmsStatus.DEAD.value
        message.next_attempt_at = None
        message.last_error = f"provider reported {word}" + (f": {error_text}" if error_text else "")
        _log(message, now, message.status, by="provider", error=message.last_error)
    else:
        _log(message, now, f"report:{word}", by="provider", error=error_text)
    message.updated_at = now
    await session.flush()
    return message


# --------------------------------------------------------------------------- the relay's steps


@dataclass(frozen=True, slots=True)
class Claim:
    """A message leased to one relay for one attempt."""

    tenant_id: uuid.UUID
    message_id: uuid.UUID
    fence: int
    attempt: int
    outgoing: OutgoingSms


async def claim_due_messages(
    session: AsyncSession,
    tenant: Tenant,
    *,
    now: datetime,
    limit: int,
    owner: str,
    lease: timedelta,
    max_attempts: int,
    status_callback: str | None = None,
) -> list[Claim]:
    """Lease up to ``limit`` due messages of ``tenant`` to ``owner`` (the caller commits before sending).

    Due: queued, failed with ``next_attempt_at`` passed, or ``sending`` with an expired lease.
    Rows locked by another relay are skipped (``FOR UPDATE SKIP LOCKED``; SQLite's write lock
    serialises claims instead). Each claim bumps ``attempts`` and the ``fence``. A message whose
    lease ran out on its last allowed attempt is marked ``dead`` rather than sent again.
    """
    _check_bound(session, tenant)
    stmt = (
        sa.select(SmsMessage)
        .where(
            SmsMessage.tenant_id == tenant.id,
            SmsMessage.next_attempt_at <= now,
            SmsMessage.status.in_([s.value for s in PENDING_STATUSES]),
        )
        .order_by(SmsMessage.next_attempt_at, SmsMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    rows = list((await session.execute(stmt)).scalars())
    if not rows:
        return []
    crypto = context_of(session).pii(tenant)
    claims = []
    for row in rows:
        if row.status == SmsStatus.SENDING and row.attempts >= max_attempts:
            row.status = SmsStatus.DEAD.value
            row.next_attempt_at = None
            row.lease_owner = row.lease_expires_at = None
            row.last_error = (
                f"gave up after {row.attempts} attempts; the last one did not finish "
                f"(the relay stopped or crashed while sending)"
            )
            row.updated_at = now
            _log(row, now, row.status, error=row.last_error)
            continue
        row.status = SmsStatus.SENDING.value
        row.attempts += 1
        row.fence += 1
        row.lease_owner = owner[:80]
        row.lease_expires_at = now + lease
        row.next_attempt_at = row.lease_expires_at
        row.updated_at = now
        _log(row, now, row.status, by=owner[:80])
        outgoing = OutgoingSms(
            message_id=row.id,
            tenant_id=tenant.id,
            to_number=crypto.open(row.to_number_enc, row_id=row.id, field="to_number") or "",
            body=crypto.open(row.body_enc, row_id=row.id, field="body") or "",
            sender_id=row.sender_id,
            purpose=row.purpose,
            generation=row.generation,
            status_callback=status_callback,
        )
        claims.append(Claim(tenant.id, row.id, row.fence, row.attempts, outgoing))
    await session.flush()
    return claims


async def record_send_result(
    session: AsyncSession,
    claim: Claim,
    *,
    now: datetime,
    result: SendResult | None = None,
    error: str | None = None,
    retry_at: datetime | None = None,
) -> bool:
    """Record the outcome of one claimed attempt; False (and no change) if the claim is stale.

    Stale: another relay has claimed the message since (its lease ran out), so the ``fence`` no
    longer matches. ``result`` → ``sent``/``delivered``; ``error`` with ``retry_at`` → ``failed``,
    due again at ``retry_at``; ``error`` without ``retry_at`` → ``dead``.
    """
    if bound_tenant(session) != claim.tenant_id:
        raise RuntimeError("messaging: the session is not bound to the claim's tenant")
    message = (
        await session.execute(
            sa.select(SmsMessage)
            .where(
                SmsMessage.tenant_id == claim.tenant_id,
                SmsMessage.id == claim.message_id,
                SmsMessage.fence == claim.fence,
                SmsMessage.status == SmsStatus.SENDING.value,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if message is None:
        return False
    message.lease_owner = None
    message.lease_expires_at = None
    message.updated_at = now
    if result is not None:
        message.status = result.status
        message.provider = result.provider
        message.provider_message_id = result.provider_message_id
        message.sent_at = now
        if result.status == SmsStatus.DELIVERED:
            message.delivered_at = now
        message.next_attempt_at = None
        message.last_error = None
        _log(message, now, message.status)
    else:
        message.last_error = (error or "unknown error")[:500]
        if retry_at is not None:
            message.status = SmsStatus.FAILED.value
            message.next_attempt_at = retry_at
            _log(message, now, message.status, error=message.last_error, retry_at=retry_at.isoformat())
        else:
            message.status = SmsStatus.DEAD.value
            message.next_attempt_at = None
            _log(message, now, message.status, error=message.last_error)
    await session.flush()
    return True


# --------------------------------------------------------------------------- staff


async def do_retry_sms(session: AsyncSession, actor: Actor, message_id: uuid.UUID) -> SmsMessage:
    """Send a dead message again (tenant administrators). Audited.

    A message the provider never accepted keeps its idempotency key (if the provider did get an
    earlier attempt, it will not send twice); one the provider accepted but could not deliver gets
    a new key (``generation`` + 1), or the provider would drop the re-send as a duplicate.
    """
    require(actor, Permission.SMS_MANAGE)
    message = await access_sms_message_by_id(session, actor, message_id, for_update=True)
    if message.status not in RETRYABLE_STATUSES:
        raise Conflict(f"Only dead messages can be retried; this one is {message.status}.")
    now = context_of(session).now()
    previous_error = message.last_error
    if message.provider_message_id is not None:
        message.generation += 1
        message.provider_message_id = None
    message.status = SmsStatus.QUEUED.value
    message.attempts = 0
    message.next_attempt_at = now
    message.lease_owner = message.lease_expires_at = None
    message.last_error = None
    message.updated_at = now
    _log(message, now, message.status, by=actor.name[:100], note="retry")
    await audit.record(
        session,
        actor,
        "sms.retried",
        target_type="sms_message",
        target_id=message.id,
        details={"purpose": message.purpose, "previous_error": previous_error, "generation": message.generation},
    )
    await session.flush()
    return message
