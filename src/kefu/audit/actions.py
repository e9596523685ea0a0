"""Writes to the audit log. Every security-relevant action calls :func:`record`."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.audit.models import AuditChainHead, AuditEvent, PlatformAuditEvent, PlatformAuditHead
from kefu.audit.rules import GENESIS_HASH, head_signature, link_hash
from kefu.core.actor import Actor
from kefu.core.context import context_of
from kefu.core.db import bound_tenant
from kefu.core.ids import new_id

PLATFORM_CHAIN = "platform"
AUDIT_KEY_PURPOSE = "audit-chain-head"


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    return postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert  # type: ignore[union-attr]


async def _lock_tenant_head(session: AsyncSession, tenant_id: uuid.UUID) -> AuditChainHead:
    ctx = context_of(session)
    insert = _insert(session)
    await session.execute(
        insert(AuditChainHead)
        .values(
            id=new_id(),
            tenant_id=tenant_id,
            seq=0,
            hash=GENESIS_HASH,
            signature=head_signature(ctx.key(AUDIT_KEY_PURPOSE), str(tenant_id), 0, GENESIS_HASH),
            updated_at=ctx.now(),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    stmt = sa.select(AuditChainHead).where(AuditChainHead.tenant_id == tenant_id).with_for_update()
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one()


async def _lock_platform_head(session: AsyncSession) -> PlatformAuditHead:
    ctx = context_of(session)
    stmt = sa.select(PlatformAuditHead).with_for_update().execution_options(populate_existing=True)
    head = (await session.execute(stmt)).scalar_one_or_none()
    if head is None:
        head = PlatformAuditHead(
            seq=0,
            hash=GENESIS_HASH,
            signature=head_signature(ctx.key(AUDIT_KEY_PURPOSE), PLATFORM_CHAIN, 0, GENESIS_HASH),
            updated_at=ctx.now(),
        )
        session.add(head)
        await session.flush()
    return head


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    target_type: str | None = None,
    target_id: Any = None,
    details: dict[str, Any] | None = None,
    outcome: str = "success",
    tenant_id: uuid.UUID | None = None,
) -> None:
    """Append one event to the tenant's chain (or the platform chain when there is no tenant).

    Runs in the caller's transaction: if the change it describes rolls back,
    so does the record. Appends to one chain are serialised (row lock on the
    chain head on PostgreSQL; the database write lock on SQLite).
    """
    ctx = context_of(session)
    key = ctx.key(AUDIT_KEY_PURPOSE)
    tenant_id = tenant_id if tenant_id is not None else actor.tenant_id
    entry: dict[str, Any] = {
        "occurred_at": ctx.now(),
        "actor_type": actor.kind.value,
        "actor_id": actor.id,
        "actor_name": actor.name[:100],
        "action": action,
        "outcome": outcome,
        "target_type": target_type,
        "target_id": str(target_id) if target_id is not None else None,
        "ip": actor.ip,
        "user_agent": (actor.user_agent or None) and actor.user_agent[:300],
        "details": details or {},
    }
    if tenant_id is None:
        head: AuditChainHead | PlatformAuditHead = await _lock_platform_head(session)
        chain = PLATFORM_CHAIN
    else:
        if bound_tenant(session) != tenant_id:
            raise RuntimeError("audit record for a tenant the session is not bound to")
        head = await _lock_tenant_head(session, tenant_id)
        chain = str(tenant_id)
    seq = head.seq + 1
    digest = link_hash(head.hash, {**entry, "chain": chain, "seq": seq})
    row_fields = {**entry, "seq": seq, "prev_hash": head.hash, "hash": digest}
    if tenant_id is None:
        session.add(PlatformAuditEvent(**row_fields))
    else:
        session.add(AuditEvent(tenant_id=tenant_id, **row_fields))
    head.seq = seq
    head.hash = digest
    head.signature = head_signature(key, chain, seq, digest)
    head.updated_at = entry["occurred_at"]
    await session.flush()
