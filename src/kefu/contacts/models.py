"""Tables of the contacts domain: numbers, IVR flows, calls with their timeline, recordings, surveys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, IdPrimaryKey, JSONType, TenantOwned, Timestamps


class PlatformNumber(IdPrimaryKey, Timestamps, Base):
    """Which organisation a dialled number (DID, 400/800 number) belongs to.

    Platform-level on purpose: an incoming call names only the number it
    dialled, so the lookup happens before any tenant is known. Operators assign
    numbers; tenants configure them in ``tenant_numbers``.
    """

    __tablename__ = "platform_numbers"

    number: Mapped[str] = mapped_column(sa.String(24), unique=True)
    tenant_ref: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    #: local | 400 | 800 | mobile
    kind: Mapped[str] = mapped_column(sa.String(16), default="local")


class TenantNumber(TenantOwned, Timestamps, Base):
    """A tenant's configuration of one of its numbers: which IVR flow answers it."""

    __tablename__ = "tenant_numbers"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "number"),)

    number: Mapped[str] = mapped_column(sa.String(24))
    label: Mapped[str] = mapped_column(sa.String(100), default="")
    flow_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, sa.ForeignKey("ivr_flows.id", ondelete="SET NULL"))
    #: May be shown as caller id on outbound calls.
    outbound_caller_id: Mapped[bool] = mapped_column(default=True)


class IvrFlow(TenantOwned, Base):
    """One version of an IVR flow. Saving a flow adds a version; numbers point at the flow's id
    (the first version's id, ``flow_key``) and always run its current version."""

    __tablename__ = "ivr_flows"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "flow_key", "version"),
        sa.Index("ix_ivr_flows_tenant_name", "tenant_id", "name"),
    )

    flow_key: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    name: Mapped[str] = mapped_column(sa.String(64))
    version: Mapped[int] = mapped_column(default=1)
    is_current: Mapped[bool] = mapped_column(default=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_by: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    created_at: Mapped[datetime]


class Call(TenantOwned, Base):
    """One call, inbound or outbound. The caller's number is PII: encrypted, indexed, masked."""

    __tablename__ = "calls"
    __table_args__ = (
        sa.Index("ix_calls_tenant_started", "tenant_id", "started_at"),
        sa.Index("ix_calls_tenant_number", "tenant_id", "number_index", "started_at"),
        sa.Index("ix_calls_tenant_agent", "tenant_id", "agent_id", "started_at"),
    )

    #: The PBX's call id (opaque).
    pbx_call_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    direction: Mapped[str] = mapped_column(sa.String(10))  # inbound | outbound
    #: The customer's number (caller for inbound, callee for outbound).
    number_enc: Mapped[str | None] = mapped_column(sa.Text)
    number_index: Mapped[str | None] = mapped_column(sa.String(64))
    number_masked: Mapped[str] = mapped_column(sa.String(32), default="")
    #: The tenant number dialled (inbound) or shown as caller id (outbound).
    tenant_number: Mapped[str] = mapped_column(sa.String(24), default="")
    #: ivr | queued | ringing | connected | wrap_up | ended
    state: Mapped[str] = mapped_column(sa.String(16))
    #: answered | abandoned | ivr_abandoned | after_hours | voicemail | callback | transferred_out | failed |
    #: self_service | interrupted — set when the call ends
    outcome: Mapped[str | None] = mapped_column(sa.String(20))
    queue_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    started_at: Mapped[datetime]
    queued_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    wait_seconds: Mapped[float | None]
    talk_seconds: Mapped[float | None]
    hold_seconds: Mapped[float] = mapped_column(default=0.0)
    ivr_path: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    wrap_up_code: Mapped[str | None] = mapped_column(sa.String(40))
    notes: Mapped[str | None] = mapped_column(sa.Text)
    survey_score: Mapped[int | None]
    survey_channel: Mapped[str | None] = mapped_column(sa.String(10))
    recording_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)


class CallEvent(TenantOwned, Base):
    """The call's timeline: every step with its time and actor."""

    __tablename__ = "call_events"
    __table_args__ = (sa.Index("ix_call_events_call", "tenant_id", "call_id", "at"),)

    call_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    at: Mapped[datetime]
    type: Mapped[str] = mapped_column(sa.String(40))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class Recording(TenantOwned, Base):
    __tablename__ = "recordings"
    __table_args__ = (sa.Index("ix_recordings_call", "tenant_id", "call_id"),)

    call_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    pbx_recording_id: Mapped[str] = mapped_column(sa.String(64))
    #: Key in the recording store (a path relative to its root for the filesystem store).
    storage_key: Mapped[str | None] = mapped_column(sa.String(300))
    started_at: Mapped[datetime]
    duration_s: Mapped[float | None]
    size_bytes: Mapped[int | None]
    channels: Mapped[int] = mapped_column(default=2)
    sample_rate: Mapped[int] = mapped_column(default=8000)
    encoding: Mapped[str] = mapped_column(sa.String(16), default="mulaw")
    paused_intervals: Mapped[list[Any]] = mapped_column(JSONType, default=list)
