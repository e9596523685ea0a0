"""Tables of the work-orders domain.

* ``work_orders`` — one complaint (or a sub-order of one). Status, deadlines and the KPI fields on
  the row are a *projection*: every change appends a ``work_order_events`` row and the projection is
  recomputed from the order's whole history (``rules.project``), never incremented.
* ``work_order_events`` — the full history (actor, time, transition, departments); append-only.
* ``sla_events`` — warnings and breaches, permanent (append-only, one per order × kind × target).
* ``complaint_events`` — an outbox row per created complaint (tenant, time, area and category paths)
  for early warning; append-only, consumers keep their own cursor (ids are time-ordered).
* configuration: categories (a tree), dispatch rules, business calendars, SLA policies, authority
  policies, one ``work_order_config`` row per tenant.
* refunds: decisions with the rule that decided, and budgets locked row by row.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, JSONType, TenantOwned

# --------------------------------------------------------------------------- configuration


class WorkOrderConfig(TenantOwned, Base):
    __tablename__ = "work_order_config"
    __table_args__ = (sa.UniqueConstraint("tenant_id"),)

    number_prefix: Mapped[str] = mapped_column(sa.String(8), default="TS")
    repeat_window_days: Mapped[int] = mapped_column(default=90)
    #: The outer limit of every complaint in calendar days (MIIT: appeal when no reply within 15 days).
    outer_limit_days: Mapped[int] = mapped_column(default=15)
    fallback_department_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("departments.id", ondelete="SET NULL")
    )
    #: Where verification sub-orders of refunds go (the billing department); dispatch rules if unset.
    verification_department_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("departments.id", ondelete="SET NULL")
    )
    follow_up_channel: Mapped[str] = mapped_column(sa.String(8), default="sms")
    #: What the authority policies decide when none matches: approve | supervisor | refuse.
    authority_default: Mapped[str] = mapped_column(sa.String(16), default="supervisor")
    agent_daily_budget_cents: Mapped[int | None] = mapped_column(sa.BigInteger, default=20000)
    agent_monthly_budget_cents: Mapped[int | None] = mapped_column(sa.BigInteger, default=200000)
    team_daily_budget_cents: Mapped[int | None] = mapped_column(sa.BigInteger)
    team_monthly_budget_cents: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: Day hours for "handling time without night hours" (local time, hour of day).
    day_start_hour: Mapped[int] = mapped_column(sa.SmallInteger, default=8)
    day_end_hour: Mapped[int] = mapped_column(sa.SmallInteger, default=22)


class Category(TenantOwned, Base):
    """A node of the complaint taxonomy; ``path`` joins names with '/' (网络质量/信号/室内无信号)."""

    __tablename__ = "work_order_categories"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "path"),)

    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("work_order_categories.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(100))
    code: Mapped[str | None] = mapped_column(sa.String(40))
    level: Mapped[int] = mapped_column(sa.SmallInteger)
    path: Mapped[str] = mapped_column(sa.String(400))
    position: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)


class DispatchRule(TenantOwned, Base):
    """category × area → department; empty category or area matches any. First match by position wins."""

    __tablename__ = "dispatch_rules"

    position: Mapped[int] = mapped_column(default=100)
    name: Mapped[str] = mapped_column(sa.String(100), default="")
    category_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("work_order_categories.id", ondelete="CASCADE")
    )
    area_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, sa.ForeignKey("areas.id", ondelete="CASCADE"))
    department_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("departments.id", ondelete="CASCADE"))
    is_active: Mapped[bool] = mapped_column(default=True)


class BusinessCalendar(TenantOwned, Base):
    """Weekly working intervals (several per day), holidays and make-up working days, in a time zone."""

    __tablename__ = "business_calendars"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(sa.String(100))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Asia/Shanghai")
    #: {"mon": [["09:00", "12:00"], ["13:30", "18:00"]], …}; a missing day is a day off.
    week: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: ["2026-10-01", …] days off whatever the weekday.
    holidays: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    #: ["2026-10-10", …] working days on a weekend (调休), with Monday's hours.
    workdays: Mapped[list[Any]] = mapped_column(JSONType, default=list)


class SlaPolicy(TenantOwned, Base):
    """Response and resolution targets chosen by ordered conditions; exactly one default applies otherwise."""

    __tablename__ = "sla_policies"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(sa.String(100))
    position: Mapped[int] = mapped_column(default=100)
    is_default: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    #: {"category_ids": [...], "priorities": [3, 4], "vip": true, "channels": ["phone"]} (all must match).
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    response_minutes: Mapped[int] = mapped_column()
    resolution_minutes: Mapped[int] = mapped_column()
    calendar_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("business_calendars.id", ondelete="RESTRICT")
    )
    #: Warn when this share of a target's working time has elapsed.
    warn_ratio: Mapped[float] = mapped_column(sa.Float, default=0.8)
    #: On breach: any of "notify", "raise_priority", "reassign_supervisor".
    escalations: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    updated_at: Mapped[datetime | None]


class AuthorityPolicy(TenantOwned, Base):
    """Refund authority as data: ordered rules of conditions → approve | supervisor | refuse."""

    __tablename__ = "authority_policies"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(sa.String(100))
    position: Mapped[int] = mapped_column(default=100)
    is_active: Mapped[bool] = mapped_column(default=True)
    #: [{"field": "charge.amount", "op": "<=", "value": 50}, …] (all must match)
    conditions: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    outcome: Mapped[str] = mapped_column(sa.String(16))
    note: Mapped[str] = mapped_column(sa.String(300), default="")


# --------------------------------------------------------------------------- orders


class WorkOrderCounter(TenantOwned, Base):
    """Per-tenant, per-day sequence behind human-facing numbers (TS-20261128-000123)."""

    __tablename__ = "work_order_counters"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "day"),)

    day: Mapped[str] = mapped_column(sa.String(8))
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)


CREATED_INCLUDE = ["kind", "status", "intercepted", "resolution", "is_repeat", "threatens_escalation", "department_id"]
ARCHIVED_INCLUDE = ["kind", "on_time", "handling_seconds", "handling_day_seconds", "handoffs", "department_id"]
ORDER_INCLUDE = ["kind", "department_id"]
#: A hand-off: a move of an order between two different departments (the KPI counts dispatches and transfers).
HANDOFF = "from_department_id IS NOT NULL AND from_department_id <> to_department_id"


class WorkOrder(TenantOwned, Base):
    __tablename__ = "work_orders"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "number"),
        sa.Index("ix_work_orders_tenant_status_id", "tenant_id", "status", "id"),
        sa.Index("ix_work_orders_tenant_department_status_id", "tenant_id", "department_id", "status", "id"),
        sa.Index("ix_work_orders_tenant_category_id", "tenant_id", "category_id", "id"),
        sa.Index("ix_work_orders_tenant_caller_created", "tenant_id", "caller_index", "created_at"),
        sa.Index("ix_work_orders_tenant_customer", "tenant_id", "customer_id"),
        sa.Index("ix_work_orders_tenant_next_deadline", "tenant_id", "next_deadline_at"),
        # KPI scans of a period read only the index (PostgreSQL index-only scans).
        sa.Index("ix_work_orders_tenant_created", "tenant_id", "created_at", postgresql_include=CREATED_INCLUDE),
        sa.Index("ix_work_orders_tenant_archived", "tenant_id", "archived_at", postgresql_include=ARCHIVED_INCLUDE),
        sa.Index("ix_work_orders_tenant_master", "tenant_id", "master_id"),
        sa.Index("ix_work_orders_tenant_parent", "tenant_id", "parent_id"),
        # KPIs of answers and breaches group by the order's department: one index-only probe per row joined.
        sa.Index("ix_work_orders_tenant_id_department", "tenant_id", "id", postgresql_include=ORDER_INCLUDE),
    )

    number: Mapped[str] = mapped_column(sa.String(40))
    #: complaint | sub_order (co-handling) | verification (refund first, verify later)
    kind: Mapped[str] = mapped_column(sa.String(16), default="complaint")
    parent_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, sa.ForeignKey("work_orders.id", ondelete="SET NULL"))
    #: The incident (master order) this complaint is grouped under.
    master_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, sa.ForeignKey("work_orders.id", ondelete="SET NULL"))
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("work_orders.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(sa.String(20))
    priority: Mapped[int] = mapped_column(sa.SmallInteger, default=2)
    channel: Mapped[str] = mapped_column(sa.String(16), default="phone")
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    category_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("work_order_categories.id", ondelete="RESTRICT")
    )
    category_path: Mapped[str] = mapped_column(sa.String(400), default="")
    #: The category's first two levels: what "same problem" means for repeat complaints.
    problem_class: Mapped[str] = mapped_column(sa.String(400), default="")
    customer_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, sa.ForeignKey("customers.id", ondelete="SET NULL"))
    #: The call this complaint was taken on (a plain id: calls live in another domain).
    source_call_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    #: HMAC blind index of the calling number (repeat detection, search) and its masked form.
    caller_index: Mapped[str | None] = mapped_column(sa.String(64))
    caller_masked: Mapped[str] = mapped_column(sa.String(32), default="")
    area_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, sa.ForeignKey("areas.id", ondelete="SET NULL"))
    area_path: Mapped[str] = mapped_column(sa.String(500), default="")
    department_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("departments.id", ondelete="SET NULL")
    )
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL"))
    vip: Mapped[bool] = mapped_column(default=False)
    #: 声称升级: the customer threatens to escalate to the regulator.
    threatens_escalation: Mapped[bool] = mapped_column(default=False)
    is_repeat: Mapped[bool] = mapped_column(default=False)
    repeat_of_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("work_orders.id", ondelete="SET NULL")
    )
    #: Resolved at first contact without a dispatched order (拦截).
    intercepted: Mapped[bool] = mapped_column(default=False)
    #: resolved | partly_resolved | unresolved (解决程度), set with the reply.
    resolution: Mapped[str | None] = mapped_column(sa.String(20))
    reply: Mapped[str | None] = mapped_column(sa.Text)
    #: very_satisfied | satisfied | neutral | unsatisfied | very_unsatisfied (latest follow-up answer)
    satisfaction: Mapped[str | None] = mapped_column(sa.String(20))
    sla_policy_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("sla_policies.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # ---- projection of the history (recomputed from work_order_events on every change)
    responded_at: Mapped[datetime | None]
    replied_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]
    response_due_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    outer_due_at: Mapped[datetime | None]
    #: The earliest pending warning or deadline; the SLA scheduler scans this index in batches.
    next_deadline_at: Mapped[datetime | None]
    #: Warnings/breaches already recorded ("resolution:warning", …), mirrors sla_events.
    sla_flags: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    handling_seconds: Mapped[int | None] = mapped_column(sa.BigInteger)
    handling_day_seconds: Mapped[int | None] = mapped_column(sa.BigInteger)
    paused_seconds: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    handoffs: Mapped[int] = mapped_column(default=0)
    on_time: Mapped[bool | None]


class WorkOrderEvent(TenantOwned, Base):
    """One change of an order: who, when, which transition, between which departments. Append-only."""

    __tablename__ = "work_order_events"
    __table_args__ = (
        sa.Index("ix_work_order_events_tenant_order", "tenant_id", "order_id", "occurred_at"),
        sa.Index("ix_work_order_events_tenant_action_at", "tenant_id", "action", "occurred_at"),
        # Hand-offs of a period (KPIs): only the few events that moved an order between departments.
        sa.Index("ix_work_order_events_tenant_handoffs", "tenant_id", "occurred_at",
                 postgresql_include=["action", "to_department_id", "order_id"],
                 postgresql_where=sa.text(HANDOFF), sqlite_where=sa.text(HANDOFF)),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("work_orders.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime]
    actor_type: Mapped[str] = mapped_column(sa.String(20))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    actor_name: Mapped[str] = mapped_column(sa.String(100))
    action: Mapped[str] = mapped_column(sa.String(32))
    from_status: Mapped[str | None] = mapped_column(sa.String(20))
    to_status: Mapped[str | None] = mapped_column(sa.String(20))
    #: For department moves: the last department that held the order, and the new one (plain ids: history
    #: must not change when a department is renamed or removed).
    from_department_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    to_department_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class WorkOrderLink(TenantOwned, Base):
    """A typed link: related | duplicate | repeat (of an earlier complaint) | merged | incident (member → master)."""

    __tablename__ = "work_order_links"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "from_id", "to_id", "kind"),
        sa.Index("ix_work_order_links_tenant_to", "tenant_id", "to_id"),
    )

    from_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("work_orders.id", ondelete="CASCADE"))
    to_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("work_orders.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime]


class Attachment(TenantOwned, Base):
    __tablename__ = "work_order_attachments"

    order_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(sa.String(64))
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)


class SlaEvent(TenantOwned, Base):
    """A warning or a breach of one target of one order: permanent, whatever happens to the order later."""

    __tablename__ = "sla_events"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "order_id", "kind", "target"),
        sa.Index("ix_sla_events_tenant_kind_at", "tenant_id", "kind", "occurred_at"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("work_orders.id", ondelete="CASCADE"))
    #: warning | breach
    kind: Mapped[str] = mapped_column(sa.String(10))
    #: response | resolution | outer
    target: Mapped[str] = mapped_column(sa.String(12))
    due_at: Mapped[datetime]
    occurred_at: Mapped[datetime]
    policy_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)


class ComplaintEvent(TenantOwned, Base):
    """Outbox for early warning (append-only): one row per complaint, written with its work order, or with the
    wrap-up of a call the agent settled on the phone with a complaint code (``order_id`` empty; an order written
    later for that call adds no second row, so a complaint is counted once)."""

    __tablename__ = "complaint_events"
    __table_args__ = (
        sa.Index("ix_complaint_events_tenant_at", "tenant_id", "occurred_at"),
        sa.Index("ix_complaint_events_tenant_call", "tenant_id", "call_id"),
    )

    order_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, sa.ForeignKey("work_orders.id", ondelete="CASCADE"))
    call_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    #: complaint.created (a work order) | complaint.call (a call's wrap-up code)
    kind: Mapped[str] = mapped_column(sa.String(32), default="complaint.created")
    occurred_at: Mapped[datetime]
    area_path: Mapped[str] = mapped_column(sa.String(500), default="")
    category_path: Mapped[str] = mapped_column(sa.String(400), default="")
    caller_index: Mapped[str | None] = mapped_column(sa.String(64))


class FollowUp(TenantOwned, Base):
    """A satisfaction follow-up (回访) by SMS or call and its answer."""

    __tablename__ = "work_order_follow_ups"
    __table_args__ = (sa.Index("ix_work_order_follow_ups_tenant_answered", "tenant_id", "answered_at"),)

    order_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(sa.String(8))
    #: sent | answered | no_answer
    status: Mapped[str] = mapped_column(sa.String(12))
    sent_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    answer: Mapped[str | None] = mapped_column(sa.String(20))
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    sms_message_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)


# --------------------------------------------------------------------------- refunds


class RefundDecision(TenantOwned, Base):
    __tablename__ = "refund_decisions"
    __table_args__ = (sa.Index("ix_refund_decisions_tenant_customer_at", "tenant_id", "customer_id", "decided_at"),)

    order_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, sa.ForeignKey("customers.id", ondelete="SET NULL"))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    agent_name: Mapped[str] = mapped_column(sa.String(100))
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    charge_type: Mapped[str] = mapped_column(sa.String(40))
    charged_at: Mapped[datetime | None]
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    #: approved | pending_approval | refused | approved_by_supervisor | rejected_by_supervisor
    outcome: Mapped[str] = mapped_column(sa.String(24))
    rule_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    rule_name: Mapped[str] = mapped_column(sa.String(100), default="")
    #: The facts the rules saw and why the deciding rule matched (or why none did).
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    credit_note_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    verification_order_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    decided_at: Mapped[datetime]
    approver_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    approved_at: Mapped[datetime | None]


class RefundBudget(TenantOwned, Base):
    """Money spent under refund authority in one period by one agent or team; locked row by row."""

    __tablename__ = "refund_budgets"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "scope", "scope_id", "period", "period_start"),)

    #: agent | team
    scope: Mapped[str] = mapped_column(sa.String(8))
    scope_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    #: day | month
    period: Mapped[str] = mapped_column(sa.String(8))
    period_start: Mapped[str] = mapped_column(sa.String(10))
    spent_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
