"""Routing tables: configuration (queues, skills, agent profiles, policies) and the event log.

Configuration lives in tables (the API reads and writes them) and is applied
to the live router after each commit. Every engine transition is appended to
``routing_events``, the source for restarts and for all reporting; a restart
folds the events back into the router state.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, JSONType, TenantOwned, Timestamps


class Skill(TenantOwned, Timestamps, Base):
    __tablename__ = "skills"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(sa.String(40))
    description: Mapped[str] = mapped_column(sa.String(200), default="")


class Queue(TenantOwned, Timestamps, Base):
    """A queue (skill group). ``config`` holds the engine's QueueConfig fields except id and name."""

    __tablename__ = "queues"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(sa.String(64))
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class AgentProfile(TenantOwned, Timestamps, Base):
    """A user who takes tasks: skills with levels and capacity per channel."""

    __tablename__ = "agent_profiles"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "user_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"))
    skills: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    capacity: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class RoutingPolicyRow(TenantOwned, Timestamps, Base):
    __tablename__ = "routing_policies"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(sa.String(64))
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class RoutingEvent(TenantOwned, Base):
    """One engine transition. ``seq`` orders a tenant's events; ``data`` is the event's JSON form."""

    __tablename__ = "routing_events"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "seq"),
        sa.Index("ix_routing_events_tenant_at", "tenant_id", "at"),
        sa.Index("ix_routing_events_tenant_task", "tenant_id", "task_id"),
    )

    seq: Mapped[int] = mapped_column(sa.BigInteger)
    at: Mapped[datetime]
    type: Mapped[str] = mapped_column(sa.String(40))
    task_id: Mapped[str | None] = mapped_column(sa.String(64))
    agent_id: Mapped[str | None] = mapped_column(sa.String(64))
    queue_id: Mapped[str | None] = mapped_column(sa.String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
