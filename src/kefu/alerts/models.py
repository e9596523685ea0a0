"""Tables of early warning and incidents.

* ``alerts`` — one row per alert the tenant's detector raised (``generation`` × detector id), with its
  latest cell, counts and score; status open → closed (cool-down over) or → incident.
* ``alert_updates`` — the alert's timeline: every ``new``/``grow`` update with its count, expected
  count and score at the complaint's time. Append-only.
* ``alert_detector_states`` — one per tenant: the detector's snapshot (zlib-compressed JSON) and the
  cursor of the last complaint event read, written in the same transaction as the alerts, so a restart
  neither loses nor double-counts a complaint.
* ``incidents`` — a group fault opened from an alert: one master work order, its department, the
  covered area × category subtree, who opened and resolved it, and its counters.
* ``incident_subscribers`` — callers who asked in the IVR to be told when it is fixed (number sealed
  with the tenant's key, found by its blind index, shown masked).
* ``incident_notices`` — what resolving did for each customer: an SMS, a callback task (an outbox row
  until the router has the task), or nothing when there is no way to reach them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, JSONType, TenantOwned


class Alert(TenantOwned, Base):
    __tablename__ = "alerts"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "generation", "detector_id"),
        sa.Index("ix_alerts_tenant_status_detected", "tenant_id", "status", "detected_at"),
        sa.Index("ix_alerts_tenant_detected", "tenant_id", "detected_at"),
    )

    #: Detector state generation (a new one after the tenant's thresholds change) and the detector's id.
    generation: Mapped[int] = mapped_column(default=1)
    detector_id: Mapped[str] = mapped_column(sa.String(40))
    area_path: Mapped[str] = mapped_column(sa.String(500))
    category_path: Mapped[str] = mapped_column(sa.String(400))
    start_at: Mapped[datetime]
    detected_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    count: Mapped[int] = mapped_column(default=0)
    expected: Mapped[float] = mapped_column(sa.Float, default=0.0)
    score: Mapped[float] = mapped_column(sa.Float, default=0.0)
    window_seconds: Mapped[float] = mapped_column(sa.Float, default=0.0)
    #: Other surprising cells folded into the alert: [[area, category, score], …].
    folded: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    #: open | closed | incident
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    closed_at: Mapped[datetime | None]
    incident_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    updated_at: Mapped[datetime]


class AlertUpdateRecord(TenantOwned, Base):
    """One point of an alert's timeline (append-only)."""

    __tablename__ = "alert_updates"
    __table_args__ = (sa.Index("ix_alert_updates_tenant_alert_at", "tenant_id", "alert_id", "at"),)

    alert_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("alerts.id", ondelete="CASCADE"))
    #: new | grow
    kind: Mapped[str] = mapped_column(sa.String(8))
    #: The time of the complaint that caused the update.
    at: Mapped[datetime]
    count: Mapped[int] = mapped_column()
    expected: Mapped[float] = mapped_column(sa.Float)
    score: Mapped[float] = mapped_column(sa.Float)
    area_path: Mapped[str] = mapped_column(sa.String(500))
    category_path: Mapped[str] = mapped_column(sa.String(400))
    recorded_at: Mapped[datetime]


class DetectorState(TenantOwned, Base):
    __tablename__ = "alert_detector_states"
    __table_args__ = (sa.UniqueConstraint("tenant_id"),)

    generation: Mapped[int] = mapped_column(default=1)
    #: Incremented with every save: a process whose in-memory detector has another version restores.
    version: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: ``Detector.snapshot()`` as zlib-compressed JSON (empty before the first save).
    snapshot: Mapped[bytes] = mapped_column(sa.LargeBinary, default=b"")
    #: The id of the last complaint event read (ids are time-ordered UUIDv7).
    cursor_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    events_read: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_at: Mapped[datetime]


class Incident(TenantOwned, Base):
    __tablename__ = "incidents"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "alert_id"),
        sa.Index("ix_incidents_tenant_status_opened", "tenant_id", "status", "opened_at"),
        sa.Index("ix_incidents_tenant_master", "tenant_id", "master_order_id"),
    )

    alert_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("alerts.id", ondelete="CASCADE"))
    master_order_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("work_orders.id", ondelete="CASCADE"))
    area_path: Mapped[str] = mapped_column(sa.String(500))
    category_path: Mapped[str] = mapped_column(sa.String(400))
    department_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    #: open | resolved
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    #: manual (a supervisor) | auto (the tenant's policy)
    opened_how: Mapped[str] = mapped_column(sa.String(8), default="manual")
    opened_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    opened_by_name: Mapped[str] = mapped_column(sa.String(100), default="")
    opened_at: Mapped[datetime]
    resolved_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    resolved_by_name: Mapped[str | None] = mapped_column(sa.String(100))
    resolved_at: Mapped[datetime | None]
    resolution_note: Mapped[str | None] = mapped_column(sa.Text)
    # ---- counters (each increment is also a history row of the order concerned)
    linked_orders: Mapped[int] = mapped_column(default=0)
    #: Dispatches avoided: complaints that joined the incident instead of going to a department.
    handoffs_saved: Mapped[int] = mapped_column(default=0)
    #: Calls answered by the IVR announcement (intercepted complaints).
    intercepted_calls: Mapped[int] = mapped_column(default=0)
    sms_sent: Mapped[int] = mapped_column(default=0)
    callbacks: Mapped[int] = mapped_column(default=0)


class IncidentSubscriber(TenantOwned, Base):
    __tablename__ = "incident_subscribers"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "incident_id", "number_index"),
        sa.Index("ix_incident_subscribers_tenant_incident", "tenant_id", "incident_id", "created_at"),
    )

    incident_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    number_enc: Mapped[str] = mapped_column(sa.Text)
    number_index: Mapped[str] = mapped_column(sa.String(64))
    number_masked: Mapped[str] = mapped_column(sa.String(32))
    call_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    #: The intercepted complaint recorded for the call.
    order_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    created_at: Mapped[datetime]
    notified_at: Mapped[datetime | None]
    sms_message_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)


class IncidentNotice(TenantOwned, Base):
    __tablename__ = "incident_notices"
    __table_args__ = (
        sa.Index("ix_incident_notices_tenant_incident", "tenant_id", "incident_id"),
        sa.Index("ix_incident_notices_tenant_status", "tenant_id", "status"),
    )

    incident_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    order_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    subscriber_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    #: sms | callback | none
    channel: Mapped[str] = mapped_column(sa.String(10))
    #: sms: queued · callback: pending (not yet in the router) → created, or no_queue · none: no_contact
    status: Mapped[str] = mapped_column(sa.String(12))
    sms_message_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    queue_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    #: The router task id of a callback (the notice id: submitting twice is harmless).
    task_id: Mapped[str | None] = mapped_column(sa.String(64))
    call_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
