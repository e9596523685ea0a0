"""Reads of the audit log: listing for auditors and chain verification."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.audit.actions import AUDIT_KEY_PURPOSE, PLATFORM_CHAIN
from kefu.audit.models import (
    AccessChainHead,
    AccessLogEntry,
    AuditChainHead,
    AuditEvent,
    PlatformAuditEvent,
    PlatformAuditHead,
)
from kefu.audit.rules import ACCESS_FIELDS, ENTRY_FIELDS, ChainReport, verify_chain
from kefu.core.context import context_of
from kefu.core.db import bind_tenant

_BATCH = 2000


async def list_events(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    action: str | None = None,
    actor_id: uuid.UUID | None = None,
    since: datetime | None = None,
    before_seq: int | None = None,
    limit: int = 50,
) -> list[AuditEvent]:
    """Newest first, keyset-paginated by ``seq``."""
    stmt = sa.select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if actor_id:
        stmt = stmt.where(AuditEvent.actor_id == actor_id)
    if since:
        stmt = stmt.where(AuditEvent.occurred_at >= since)
    if before_seq is not None:
        stmt = stmt.where(AuditEvent.seq < before_seq)
    stmt = stmt.order_by(AuditEvent.seq.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


def _row_dict(row: Any, chain: str, fields: tuple[str, ...] = ENTRY_FIELDS) -> dict[str, Any]:
    data = {name: getattr(row, name) for name in fields if name != "chain"}
    data.update(chain=chain, seq=row.seq, prev_hash=row.prev_hash, hash=row.hash)
    return data


async def _stream(
    session: AsyncSession, model: Any, where: Any, chain: str, fields: tuple[str, ...] = ENTRY_FIELDS
) -> AsyncIterator[dict[str, Any]]:
    last = 0
    while True:
        stmt = sa.select(model).where(where, model.seq > last).order_by(model.seq).limit(_BATCH)
        rows = list((await session.execute(stmt)).scalars())
        if not rows:
            return
        for row in rows:
            yield _row_dict(row, chain, fields)
        last = rows[-1].seq
        session.expunge_all()


async def _collect(agen: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row async for row in agen]


async def verify_tenant_chain(session: AsyncSession, tenant_id: uuid.UUID, label: str) -> ChainReport:
    """Verify one tenant's chain (the session must be bound to that tenant)."""
    key = context_of(session).key(AUDIT_KEY_PURPOSE)
    rows = await _collect(_stream(session, AuditEvent, AuditEvent.tenant_id == tenant_id, str(tenant_id)))
    head_row = (
        await session.execute(sa.select(AuditChainHead).where(AuditChainHead.tenant_id == tenant_id))
    ).scalar_one_or_none()
    head = None if head_row is None else {"seq": head_row.seq, "hash": head_row.hash, "signature": head_row.signature}
    return verify_chain(str(tenant_id), label, rows, head, key)


async def verify_platform_chain(session: AsyncSession) -> ChainReport:
    key = context_of(session).key(AUDIT_KEY_PURPOSE)
    rows = await _collect(_stream(session, PlatformAuditEvent, sa.true(), PLATFORM_CHAIN))
    head_row = (await session.execute(sa.select(PlatformAuditHead))).scalars().first()
    head = None if head_row is None else {"seq": head_row.seq, "hash": head_row.hash, "signature": head_row.signature}
    return verify_chain(PLATFORM_CHAIN, "platform", rows, head, key)


async def verify_access_chains(session: AsyncSession, tenant_id: uuid.UUID, label: str) -> list[ChainReport]:
    """Verify every actor's access-log chain in one tenant (session bound to it)."""
    key = context_of(session).key(AUDIT_KEY_PURPOSE)
    heads = list(
        (
            await session.execute(
                sa.select(AccessChainHead)
                .where(AccessChainHead.tenant_id == tenant_id)
                .order_by(AccessChainHead.chain_key)
            )
        ).scalars()
    )
    known = {h.chain_key for h in heads}
    orphan_keys = (
        await session.execute(
            sa.select(AccessLogEntry.chain_key).where(AccessLogEntry.tenant_id == tenant_id).distinct()
        )
    ).scalars()
    reports = []
    for chain_key in sorted(set(orphan_keys) - known):
        reports.append(
            ChainReport(
                f"access:{tenant_id}:{chain_key}",
                f"{label} access log of {chain_key}",
                0,
                False,
                1,
                "chain head record is missing",
            )
        )
    for head in heads:
        chain = f"access:{tenant_id}:{head.chain_key}"
        rows = await _collect(
            _stream(
                session,
                AccessLogEntry,
                sa.and_(AccessLogEntry.tenant_id == tenant_id, AccessLogEntry.chain_key == head.chain_key),
                head.chain_key,
                ACCESS_FIELDS,
            )
        )
        reports.append(
            verify_chain(
                chain,
                f"{label} access log of {head.chain_key}",
                rows,
                {"seq": head.seq, "hash": head.hash, "signature": head.signature},
                key,
                ACCESS_FIELDS,
            )
        )
    return reports


async def verify_all(session: AsyncSession, tenants: list[tuple[uuid.UUID, str]]) -> list[ChainReport]:
    """The platform chain, then each tenant's chain (binding the session to each tenant in turn)."""
    reports = [await verify_platform_chain(session)]
    for tenant_id, slug in tenants:
        await bind_tenant(session, tenant_id)
        reports.append(await verify_tenant_chain(session, tenant_id, f"tenant {slug}"))
        reports.extend(await verify_access_chains(session, tenant_id, f"tenant {slug}"))
    await bind_tenant(session, None)
    return reports
