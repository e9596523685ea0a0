"""Append-only, hash-chained audit log: one chain per tenant plus one for the platform.

Each row stores ``prev_hash`` and ``hash = SHA-256(prev_hash ‖ canonical entry)``;
the chain head (last seq and hash) lives in a separate row signed with a key
derived from the instance secret, so cutting off the tail is detected too.
The tables reject UPDATE and DELETE with triggers, and the application's
database role is not granted those privileges on PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, IdPrimaryKey, JSONType, TenantOwned


class _AuditEntry:
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    occurred_at: Mapped[datetime]
    actor_type: Mapped[str] = mapped_column(sa.String(20))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    actor_name: Mapped[str] = mapped_column(sa.String(100))
    action: Mapped[str] = mapped_column(sa.String(64))
    outcome: Mapped[str] = mapped_column(sa.String(16), default="success")
    target_type: Mapped[str | None] = mapped_column(sa.String(40))
    target_id: Mapped[str | None] = mapped_column(sa.String(64))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


class AuditEvent(TenantOwned, _AuditEntry, Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "seq"),
        sa.Index("ix_audit_events_tenant_action_at", "tenant_id", "action", "occurred_at"),
    )


class AuditChainHead(TenantOwned, Base):
    __tablename__ = "audit_chain_heads"
    __table_args__ = (sa.UniqueConstraint("tenant_id"),)

    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    hash: Mapped[str] = mapped_column(sa.String(64))
    signature: Mapped[str] = mapped_column(sa.String(64))
    updated_at: Mapped[datetime]


class PlatformAuditEvent(IdPrimaryKey, _AuditEntry, Base):
    """Platform-level security events (operator logins, tenant lifecycle)."""

    __tablename__ = "platform_audit_events"
    __table_args__ = (sa.UniqueConstraint("seq"),)


class PlatformAuditHead(IdPrimaryKey, Base):
    __tablename__ = "platform_audit_head"

    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    hash: Mapped[str] = mapped_column(sa.String(64))
    signature: Mapped[str] = mapped_column(sa.String(64))
    updated_at: Mapped[datetime]


class AccessLogEntry(TenantOwned, Base):
    """One read of customer data: a record view, a reveal of a masked field, a search, a recording
    played or downloaded, an export.

    Append-only like the audit log, and hash-chained per actor (``chain_key``)
    rather than per tenant, so that thousands of agents reading records never
    queue on one lock. ``justification_type``/``justification_id`` name the
    call, work order or other task that explains the access; an access without
    one must carry a ``reason`` and counts as unexplained (insider rule R1).
    """

    __tablename__ = "access_log"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "chain_key", "seq"),
        sa.Index("ix_access_log_tenant_actor_at", "tenant_id", "actor_id", "occurred_at"),
        sa.Index("ix_access_log_tenant_resource", "tenant_id", "resource_type", "resource_id"),
    )

    chain_key: Mapped[str] = mapped_column(sa.String(64))
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    occurred_at: Mapped[datetime]
    actor_type: Mapped[str] = mapped_column(sa.String(20))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    actor_name: Mapped[str] = mapped_column(sa.String(100))
    #: view | reveal | search | play | download | export
    action: Mapped[str] = mapped_column(sa.String(20))
    resource_type: Mapped[str] = mapped_column(sa.String(40))
    resource_id: Mapped[str | None] = mapped_column(sa.String(64))
    #: Which fields were shown unmasked (for reveals), search terms' hash, result counts …
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    justification_type: Mapped[str | None] = mapped_column(sa.String(40))
    justification_id: Mapped[str | None] = mapped_column(sa.String(64))
    reason: Mapped[str | None] = mapped_column(sa.String(300))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


class AccessChainHead(TenantOwned, Base):
    __tablename__ = "access_chain_heads"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "chain_key"),)

    chain_key: Mapped[str] = mapped_column(sa.String(64))
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    hash: Mapped[str] = mapped_column(sa.String(64))
    signature: Mapped[str] = mapped_column(sa.String(64))
    updated_at: Mapped[datetime]


APPEND_ONLY_TABLES = ("audit_events", "platform_audit_events", "access_log")
