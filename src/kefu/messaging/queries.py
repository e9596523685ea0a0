"""Reads of the messaging domain (staff lists; the relay's cross-tenant view)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.core.actor import Actor
from kefu.core.db import bound_tenant
from kefu.core.schemas import DEFAULT_PAGE_SIZE
from kefu.messaging.models import SmsInbound, SmsMessage
from kefu.messaging.rules import PENDING_STATUSES
from kefu.tenancy import Tenant


async def list_messages(
    session: AsyncSession,
    actor: Actor,
    *,
    after: uuid.UUID | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    purpose: str | None = None,
    status: str | None = None,
    reference_type: str | None = None,
    reference_id: str | None = None,
) -> list[SmsMessage]:
    """Newest first, ``limit + 1`` rows (keyset: ``after`` is the last id of the previous page)."""
    stmt = sa.select(SmsMessage).where(SmsMessage.tenant_id == actor.tenant_id)
    if after is not None:
        stmt = stmt.where(SmsMessage.id < after)
    if purpose is not None:
        stmt = stmt.where(SmsMessage.purpose == purpose)
    if status is not None:
        stmt = stmt.where(SmsMessage.status == status)
    if reference_type is not None:
        stmt = stmt.where(SmsMessage.reference_type == reference_type)
    if reference_id is not None:
        stmt = stmt.where(SmsMessage.reference_id == reference_id)
    stmt = stmt.order_by(SmsMessage.id.desc()).limit(limit + 1)
    return list((await session.execute(stmt)).scalars())


async def list_inbound(
    session: AsyncSession,
    actor: Actor,
    *,
    after: uuid.UUID | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    status: str | None = None,
    matched_message_id: uuid.UUID | None = None,
) -> list[SmsInbound]:
    """Received messages, newest first (``limit + 1`` rows)."""
    stmt = sa.select(SmsInbound).where(SmsInbound.tenant_id == actor.tenant_id)
    if after is not None:
        stmt = stmt.where(SmsInbound.id < after)
    if status is not None:
        stmt = stmt.where(SmsInbound.status == status)
    if matched_message_id is not None:
        stmt = stmt.where(SmsInbound.matched_message_id == matched_message_id)
    stmt = stmt.order_by(SmsInbound.id.desc()).limit(limit + 1)
    return list((await session.execute(stmt)).scalars())


async def active_tenants(session: AsyncSession) -> list[Tenant]:
    """Every active tenant (the tenants table is not under row-level security): the relay visits each."""
    stmt = sa.select(Tenant).where(Tenant.is_active.is_(True), Tenant.pii_key_salt.is_not(None)).order_by(Tenant.id)
    return list((await session.execute(stmt)).scalars())


async def pending_count(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """Messages of the bound tenant the relay still has to work on (queued, sending, failed)."""
    assert bound_tenant(session) == tenant_id
    stmt = (
        sa.select(sa.func.count())
        .select_from(SmsMessage)
        .where(SmsMessage.tenant_id == tenant_id, SmsMessage.status.in_([s.value for s in PENDING_STATUSES]))
    )
    return int((await session.execute(stmt)).scalar_one())
