"""Writes to the audit log. Every security-relevant action calls :func:`record`."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.audit.models import (
    AccessChainHead,
    AccessLogEntry,
    AuditChainHead,
    AuditEvent,
    PlatformAuditEvent,
    PlatformAuditHead,
)
from kefu.audit.rules import ACCESS_FIELDS, GENESIS_HASH, head_signature, link_hash
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


ACCESS_ACTIONS = frozenset({"view", "reveal", "search", "play", "download", "export"})


def access_chain_key(actor: Actor) -> str:
    return f"{actor.kind.value}:{actor.id or actor.name}"[:64]


async def record_access(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    resource_type: str,
    resource_id: Any = None,
    justification_type: str | None = None,
    justification_id: Any = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> AccessLogEntry:
    """Write one access to customer data to the access log (who, what, when, from where, and why).

    The caller decides whether the access is allowed; this records it, in the
    caller's transaction, on the actor's own hash chain.
    """
    if action not in ACCESS_ACTIONS:
        raise ValueError(f"unknown access action {action!r}")
    if actor.tenant_id is None or bound_tenant(session) != actor.tenant_id:
        raise RuntimeError("access records need a session bound to the actor's tenant")
    ctx = context_of(session)
    chain = access_chain_key(actor)
    insert = _insert(session)
    await session.execute(
        insert(AccessChainHead)
        .values(
            id=new_id(),
            tenant_id=actor.tenant_id,
            chain_key=chain,
            seq=0,
            hash=GENESIS_HASH,
            signature=head_signature(ctx.key(AUDIT_KEY_PURPOSE), f"access:{actor.tenant_id}:{chain}", 0, GENESIS_HASH),
            updated_at=ctx.now(),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "chain_key"])
    )
    head = (
        await session.execute(
            sa.select(AccessChainHead)
            .where(AccessChainHead.tenant_id == actor.tenant_id, AccessChainHead.chain_key == chain)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    entry: dict[str, Any] = {
        "occurred_at": ctx.now(),
        "actor_type": actor.kind.value,
        "actor_id": actor.id,
        "actor_name": actor.name[:100],
        "action": action,
        "resource_type": resource_type,
        "resource_id": str(resource_id) if resource_id is not None else None,
        "details": details or {},
        "justification_type": justification_type,
        "justification_id": str(justification_id) if justification_id is not None else None,
        "reason": (reason or None) and reason[:300],
        "ip": actor.ip,
    }
    seq = head.seq + 1
    digest = link_hash(head.hash, {**entry, "chain": chain, "seq": seq}, ACCESS_FIELDS)
    row = AccessLogEntry(tenant_id=actor.tenant_id, chain_key=chain, seq=seq, prev_hash=head.hash, hash=digest, **entry)
    session.add(row)
    head.seq = seq
    head.hash = digest
    head.signature = head_signature(ctx.key(AUDIT_KEY_PURPOSE), f"access:{actor.tenant_id}:{chain}", seq, digest)
    head.updated_at = entry["occurred_at"]
    await session.flush()
    return row
