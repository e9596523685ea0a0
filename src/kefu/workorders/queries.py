"""Reads of the work-orders domain: lists (keyset pages, fixed number of statements), detail, config."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.core.actor import Actor
from kefu.core.context import context_of
from kefu.core.pii import InvalidPhoneNumber, normalize_phone
from kefu.workorders.access import access_work_order_by_id
from kefu.workorders.models import (
    Attachment,
    AuthorityPolicy,
    BusinessCalendar,
    Category,
    DispatchRule,
    FollowUp,
    RefundDecision,
    SlaEvent,
    SlaPolicy,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderLink,
)
from kefu.workorders.rules import CLOSED_STATUSES, INBOX_STATUSES, OPEN_STATUSES, Status, allowed_actions

NUMBER_RE = re.compile(r"^[A-Z]{1,8}-\d{8}-\d{6}$")

#: Status filters that name a group of statuses.
STATUS_GROUPS = {
    "open": OPEN_STATUSES,
    "inbox": INBOX_STATUSES,
    "closed": CLOSED_STATUSES,
    "waiting": frozenset({Status.REPLIED, Status.FOLLOW_UP}),
}


@dataclass
class OrderFilter:
    status: str | None = None
    department_id: uuid.UUID | None = None
    category_id: uuid.UUID | None = None
    assignee_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    kind: str | None = None
    q: str | None = None
    overdue: bool | None = None
    repeat: bool | None = None
    escalation: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


async def _tenant(session: AsyncSession, actor: Actor) -> Any:
    from kefu.tenancy.queries import get_tenant

    assert actor.tenant_id is not None
    return await get_tenant(session, actor.tenant_id)


async def list_work_orders(
    session: AsyncSession, actor: Actor, f: OrderFilter, *, after: uuid.UUID | None = None, limit: int = 50
) -> list[WorkOrder]:
    """Newest first; ``after`` is the last id of the previous page. One statement (two with a category)."""
    tenant_id = actor.tenant_id
    stmt = sa.select(WorkOrder).where(WorkOrder.tenant_id == tenant_id)
    if f.status:
        statuses = STATUS_GROUPS.get(f.status, {f.status})
        stmt = stmt.where(WorkOrder.status.in_([str(s) for s in statuses]))
    if f.department_id:
        stmt = stmt.where(WorkOrder.department_id == f.department_id)
    if f.category_id:
        path = (
            await session.execute(
                sa.select(Category.path).where(Category.tenant_id == tenant_id, Category.id == f.category_id)
            )
        ).scalar_one_or_none()
        subtree = sa.select(Category.id).where(
            Category.tenant_id == tenant_id,
            sa.or_(Category.path == (path or ""), Category.path.startswith(f"{path}/", autoescape=True)),
        )
        stmt = stmt.where(WorkOrder.category_id.in_(subtree))
    if f.assignee_id:
        stmt = stmt.where(WorkOrder.assignee_id == f.assignee_id)
    if f.customer_id:
        stmt = stmt.where(WorkOrder.customer_id == f.customer_id)
    if f.kind:
        stmt = stmt.where(WorkOrder.kind == f.kind)
    if f.repeat is not None:
        stmt = stmt.where(WorkOrder.is_repeat.is_(f.repeat))
    if f.escalation is not None:
        stmt = stmt.where(WorkOrder.threatens_escalation.is_(f.escalation))
    if f.overdue:
        now = context_of(session).now()
        stmt = stmt.where(
            WorkOrder.status.not_in([s.value for s in CLOSED_STATUSES]), WorkOrder.resolution_due_at < now
        )
    if f.created_from:
        stmt = stmt.where(WorkOrder.created_at >= f.created_from)
    if f.created_to:
        stmt = stmt.where(WorkOrder.created_at < f.created_to)
    if f.q:
        q = f.q.strip()
        digits = re.sub(r"[\s-]", "", q)
        if NUMBER_RE.match(q.upper()):
            stmt = stmt.where(WorkOrder.number == q.upper())
        elif digits.lstrip("+").isdigit() and len(digits.lstrip("+")) >= 5:
            try:
                e164 = normalize_phone(q)
            except InvalidPhoneNumber:
                e164 = digits
            index = context_of(session).pii(await _tenant(session, actor)).phone_index(e164)
            stmt = stmt.where(WorkOrder.caller_index == index)
        else:
            stmt = stmt.where(WorkOrder.title.contains(q, autoescape=True))
    if after is not None:
        stmt = stmt.where(WorkOrder.id < after)
    stmt = stmt.order_by(WorkOrder.id.desc()).limit(limit + 1)
    return list((await session.execute(stmt)).scalars())


async def open_orders_for_customer(
    session: AsyncSession, actor: Actor, customer_id: uuid.UUID, limit: int = 10
) -> list[WorkOrder]:
    """The customer's orders that are not closed, newest first (for the agent desktop's screen pop)."""
    stmt = (
        sa.select(WorkOrder)
        .where(
            WorkOrder.tenant_id == actor.tenant_id,
            WorkOrder.customer_id == customer_id,
            WorkOrder.status.not_in([s.value for s in CLOSED_STATUSES]),
        )
        .order_by(WorkOrder.id.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def order_concerns_customer(
    session: AsyncSession, actor: Actor, order_id: uuid.UUID, customer_id: uuid.UUID
) -> bool:
    """Whether a work order of this tenant is about this customer (justifies opening the record)."""
    row = (
        await session.execute(
            sa.select(WorkOrder.id).where(
                WorkOrder.tenant_id == actor.tenant_id, WorkOrder.id == order_id, WorkOrder.customer_id == customer_id
            )
        )
    ).first()
    return row is not None


@dataclass
class OrderDetail:
    order: WorkOrder
    history: list[WorkOrderEvent]
    links: list[dict[str, Any]]
    sub_orders: list[WorkOrder]
    follow_ups: list[FollowUp]
    refunds: list[RefundDecision]
    sla_events: list[SlaEvent]
    attachments: list[Attachment]
    allowed_actions: list[str]


async def work_order_detail(session: AsyncSession, actor: Actor, order_id: uuid.UUID) -> OrderDetail:
    order = await access_work_order_by_id(session, actor, order_id)
    t = order.tenant_id
    history = list(
        (
            await session.execute(
                sa.select(WorkOrderEvent)
                .where(WorkOrderEvent.tenant_id == t, WorkOrderEvent.order_id == order.id)
                .order_by(WorkOrderEvent.occurred_at, WorkOrderEvent.id)
            )
        ).scalars()
    )
    link_rows = (
        (
            await session.execute(
                sa.select(WorkOrderLink).where(
                    WorkOrderLink.tenant_id == t,
                    sa.or_(WorkOrderLink.from_id == order.id, WorkOrderLink.to_id == order.id),
                )
            )
        )
        .scalars()
        .all()
    )
    other_ids = {lk.to_id if lk.from_id == order.id else lk.from_id for lk in link_rows}
    numbers = (
        dict(
            (
                await session.execute(
                    sa.select(WorkOrder.id, WorkOrder.number).where(
                        WorkOrder.tenant_id == t, WorkOrder.id.in_(other_ids)
                    )
                )
            ).all()
        )
        if other_ids
        else {}
    )
    links = [
        {
            "kind": lk.kind,
            "direction": "out" if lk.from_id == order.id else "in",
            "order_id": lk.to_id if lk.from_id == order.id else lk.from_id,
            "number": numbers.get(lk.to_id if lk.from_id == order.id else lk.from_id, ""),
        }
        for lk in link_rows
    ]
    members = list(
        (
            await session.execute(
                sa.select(WorkOrder)
                .where(
                    WorkOrder.tenant_id == t, sa.or_(WorkOrder.parent_id == order.id, WorkOrder.master_id == order.id)
                )
                .order_by(WorkOrder.id)
            )
        ).scalars()
    )
    follow_ups = list(
        (
            await session.execute(
                sa.select(FollowUp)
                .where(FollowUp.tenant_id == t, FollowUp.order_id == order.id)
                .order_by(FollowUp.sent_at)
            )
        ).scalars()
    )
    refunds = list(
        (
            await session.execute(
                sa.select(RefundDecision)
                .where(RefundDecision.tenant_id == t, RefundDecision.order_id == order.id)
                .order_by(RefundDecision.decided_at)
            )
        ).scalars()
    )
    sla_events = list(
        (
            await session.execute(
                sa.select(SlaEvent)
                .where(SlaEvent.tenant_id == t, SlaEvent.order_id == order.id)
                .order_by(SlaEvent.occurred_at)
            )
        ).scalars()
    )
    attachments = list(
        (
            await session.execute(
                sa.select(Attachment)
                .options(sa.orm.defer(Attachment.content))
                .where(Attachment.tenant_id == t, Attachment.order_id == order.id)
                .order_by(Attachment.created_at)
            )
        ).scalars()
    )
    return OrderDetail(
        order, history, links, members, follow_ups, refunds, sla_events, attachments, allowed_actions(order.status)
    )


async def attachment_content(
    session: AsyncSession, actor: Actor, order_id: uuid.UUID, attachment_id: uuid.UUID
) -> Attachment:
    from kefu.core.errors import NotFound

    order = await access_work_order_by_id(session, actor, order_id)
    row = (
        await session.execute(
            sa.select(Attachment).where(
                Attachment.tenant_id == order.tenant_id, Attachment.order_id == order.id, Attachment.id == attachment_id
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No attachment {attachment_id} on this order.")
    return row


async def list_refunds(
    session: AsyncSession, actor: Actor, *, outcome: str | None = None, after: uuid.UUID | None = None, limit: int = 50
) -> list[RefundDecision]:
    stmt = sa.select(RefundDecision).where(RefundDecision.tenant_id == actor.tenant_id)
    if outcome:
        stmt = stmt.where(RefundDecision.outcome == outcome)
    if after is not None:
        stmt = stmt.where(RefundDecision.id < after)
    return list((await session.execute(stmt.order_by(RefundDecision.id.desc()).limit(limit + 1))).scalars())


async def list_categories(session: AsyncSession, actor: Actor) -> list[Category]:
    return list(
        (
            await session.execute(
                sa.select(Category).where(Category.tenant_id == actor.tenant_id).order_by(Category.path)
            )
        ).scalars()
    )


async def list_dispatch_rules(session: AsyncSession, actor: Actor) -> list[DispatchRule]:
    return list(
        (
            await session.execute(
                sa.select(DispatchRule)
                .where(DispatchRule.tenant_id == actor.tenant_id)
                .order_by(DispatchRule.position, DispatchRule.id)
            )
        ).scalars()
    )


async def list_calendars(session: AsyncSession, actor: Actor) -> list[BusinessCalendar]:
    return list(
        (
            await session.execute(
                sa.select(BusinessCalendar)
                .where(BusinessCalendar.tenant_id == actor.tenant_id)
                .order_by(BusinessCalendar.name)
            )
        ).scalars()
    )


async def list_sla_policies(session: AsyncSession, actor: Actor) -> list[SlaPolicy]:
    return list(
        (
            await session.execute(
                sa.select(SlaPolicy)
                .where(SlaPolicy.tenant_id == actor.tenant_id)
                .order_by(SlaPolicy.position, SlaPolicy.name)
            )
        ).scalars()
    )


async def list_authority_policies(session: AsyncSession, actor: Actor) -> list[AuthorityPolicy]:
    return list(
        (
            await session.execute(
                sa.select(AuthorityPolicy)
                .where(AuthorityPolicy.tenant_id == actor.tenant_id)
                .order_by(AuthorityPolicy.position, AuthorityPolicy.name)
            )
        ).scalars()
    )


async def list_breaches(session: AsyncSession, actor: Actor, *, limit: int = 50) -> list[tuple[SlaEvent, WorkOrder]]:
    rows = await session.execute(
        sa.select(SlaEvent, WorkOrder)
        .join(WorkOrder, sa.and_(WorkOrder.id == SlaEvent.order_id, WorkOrder.tenant_id == SlaEvent.tenant_id))
        .where(SlaEvent.tenant_id == actor.tenant_id)
        .order_by(SlaEvent.occurred_at.desc())
        .limit(limit)
    )
    return [(e, o) for e, o in rows.all()]
