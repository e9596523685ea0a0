"""Writes of the work-orders domain: the order lifecycle, dispatch, SLA bookkeeping, links and merges.

Every change goes through :func:`_transition` or :func:`_note`: validate → append a history row →
recompute the order's projection from its whole history (``rules.project``) → flush. Illegal
transitions raise ``Conflict`` with the reason; nothing is written before validation passes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from kefu import audit
from kefu.core.actor import Actor, ActorKind
from kefu.core.context import context_of
from kefu.core.errors import Conflict, InvalidInput, PermissionDenied
from kefu.core.ids import new_id
from kefu.core.pii import InvalidPhoneNumber, mask_phone, normalize_phone
from kefu.customers.access import access_area_by_id, access_customer_by_id
from kefu.customers.models import Area, CustomerPhone
from kefu.tenancy.access import access_department_by_id
from kefu.tenancy.rules import Permission
from kefu.workorders.access import access_category_by_id, access_work_order_by_id
from kefu.workorders.calendar import Calendar, CalendarError, build_calendar
from kefu.workorders.models import (
    Attachment,
    BusinessCalendar,
    Category,
    ComplaintEvent,
    DispatchRule,
    FollowUp,
    SlaEvent,
    SlaPolicy,
    WorkOrder,
    WorkOrderConfig,
    WorkOrderCounter,
    WorkOrderEvent,
    WorkOrderLink,
)
from kefu.workorders.rules import (
    CHANNELS,
    LINK_KINDS,
    OPEN_STATUSES,
    PRIORITIES,
    REASON_REQUIRED,
    RESOLUTIONS,
    HistoryItem,
    IllegalTransition,
    OrderFacts,
    SlaTargets,
    Status,
    ancestors_of,
    format_number,
    match_dispatch_rule,
    next_status,
    problem_class,
    project,
    select_sla_policy,
)

MAX_ATTACHMENT_BYTES = 512 * 1024


def require(actor: Actor, permission: Permission) -> None:
    if not actor.can(permission):
        raise PermissionDenied(f"You need the '{permission}' permission for this; ask your administrator.")


def _invalid(detail: str, field: str | None = None) -> InvalidInput:
    return InvalidInput(detail, errors=[{"field": field, "message": detail}] if field else [])


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert  # type: ignore[union-attr]


# --------------------------------------------------------------------------- configuration helpers


#: A tenant's work-order settings until an administrator changes them.
CONFIG_DEFAULTS: dict[str, Any] = {
    "number_prefix": "TS",
    "repeat_window_days": 90,
    "outer_limit_days": 15,
    "follow_up_channel": "sms",
    "authority_default": "supervisor",
    "agent_daily_budget_cents": 20000,
    "agent_monthly_budget_cents": 200000,
    "day_start_hour": 8,
    "day_end_hour": 22,
}


async def get_config(session: AsyncSession, tenant_id: uuid.UUID, *, create: bool = False) -> WorkOrderConfig:
    """The tenant's work-order settings (defaults if never saved; ``create`` stores them).

    Read once per session (one request or job step): later calls in the same session reuse it.
    """
    cache_key = ("work_order_config", tenant_id)
    cached = session.info.get(cache_key)
    if cached is not None and (not create or cached.id is not None):
        return cached
    row = (
        await session.execute(sa.select(WorkOrderConfig).where(WorkOrderConfig.tenant_id == tenant_id))
    ).scalar_one_or_none()
    if row is not None:
        session.info[cache_key] = row
        return row
    if not create:
        defaults = WorkOrderConfig(tenant_id=tenant_id, **CONFIG_DEFAULTS)
        session.info[cache_key] = defaults
        return defaults
    await session.execute(
        _insert(session)(WorkOrderConfig)
        .values(id=new_id(), tenant_id=tenant_id, **CONFIG_DEFAULTS)
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    row = (await session.execute(sa.select(WorkOrderConfig).where(WorkOrderConfig.tenant_id == tenant_id))).scalar_one()
    session.info[cache_key] = row
    return row


async def _tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Any:
    from kefu.tenancy.queries import get_tenant

    return await get_tenant(session, tenant_id)


def calendar_of(row: BusinessCalendar | None) -> Calendar | None:
    if row is None:
        return None
    return build_calendar(row.timezone, row.week, row.holidays, row.workdays)


async def _targets(session: AsyncSession, order: WorkOrder) -> SlaTargets | None:
    if order.sla_policy_id is None:
        return None
    policy = await session.get(SlaPolicy, order.sla_policy_id)
    if policy is None:
        return None
    calendar = await session.get(BusinessCalendar, policy.calendar_id) if policy.calendar_id else None
    return SlaTargets(
        timedelta(minutes=policy.response_minutes),
        timedelta(minutes=policy.resolution_minutes),
        calendar_of(calendar),
        policy.warn_ratio,
    )


async def _ancestor_ids(session: AsyncSession, model: Any, tenant_id: uuid.UUID, path: str) -> frozenset[uuid.UUID]:
    if not path:
        return frozenset()
    rows = await session.execute(
        sa.select(model.id).where(model.tenant_id == tenant_id, model.path.in_(ancestors_of(path)))
    )
    return frozenset(rows.scalars())


async def order_facts(session: AsyncSession, order: WorkOrder) -> OrderFacts:
    return OrderFacts(
        category_ids=await _ancestor_ids(session, Category, order.tenant_id, order.category_path),
        priority=order.priority,
        vip=order.vip,
        channel=order.channel,
        kind=order.kind,
        area_ids=await _ancestor_ids(session, Area, order.tenant_id, order.area_path),
    )


async def _select_policy(session: AsyncSession, tenant_id: uuid.UUID, facts: OrderFacts) -> SlaPolicy | None:
    policies = (
        (
            await session.execute(
                sa.select(SlaPolicy).where(SlaPolicy.tenant_id == tenant_id, SlaPolicy.is_active.is_(True))
            )
        )
        .scalars()
        .all()
    )
    return select_sla_policy(policies, facts)


async def resolve_department(session: AsyncSession, tenant_id: uuid.UUID, facts: OrderFacts) -> uuid.UUID | None:
    """The department dispatch rules give for these facts, else the tenant's fallback, else None."""
    rules = (
        (
            await session.execute(
                sa.select(DispatchRule).where(DispatchRule.tenant_id == tenant_id, DispatchRule.is_active.is_(True))
            )
        )
        .scalars()
        .all()
    )
    rule = match_dispatch_rule(rules, facts)
    if rule is not None:
        return rule.department_id
    return (await get_config(session, tenant_id)).fallback_department_id


#: Marks the number an order carries inside its creating transaction until the daily counter gives it its own.
_PROVISIONAL_NUMBER = "~"


async def _next_number(session: AsyncSession, tenant_id: uuid.UUID, prefix: str, now: datetime, tz: str) -> str:
    from zoneinfo import ZoneInfo

    day = now.astimezone(ZoneInfo(tz)).strftime("%Y%m%d")
    insert = _insert(session)(WorkOrderCounter).values(id=new_id(), tenant_id=tenant_id, day=day, value=1)
    value = (
        await session.execute(
            insert.on_conflict_do_update(
                index_elements=["tenant_id", "day"], set_={"value": WorkOrderCounter.value + 1}
            ).returning(WorkOrderCounter.value)
        )
    ).scalar_one()
    return format_number(prefix, day, value)


# --------------------------------------------------------------------------- history and projection


def _event(
    order: WorkOrder,
    actor: Actor,
    action: str,
    at: datetime,
    *,
    from_status: str | None = None,
    to_status: str | None = None,
    from_department_id: uuid.UUID | None = None,
    to_department_id: uuid.UUID | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> WorkOrderEvent:
    return WorkOrderEvent(
        id=new_id(),
        tenant_id=order.tenant_id,
        order_id=order.id,
        occurred_at=at,
        actor_type=actor.kind.value,
        actor_id=actor.id,
        actor_name=actor.name[:100],
        action=action,
        from_status=from_status,
        to_status=to_status,
        from_department_id=from_department_id,
        to_department_id=to_department_id,
        reason=(reason or None) and reason[:500],
        details=details or {},
    )


def _item(e: WorkOrderEvent) -> HistoryItem:
    return HistoryItem(e.action, e.occurred_at, e.from_status, e.to_status, e.from_department_id, e.to_department_id)


async def history_of(session: AsyncSession, order: WorkOrder) -> list[WorkOrderEvent]:
    stmt = (
        sa.select(WorkOrderEvent)
        .where(WorkOrderEvent.tenant_id == order.tenant_id, WorkOrderEvent.order_id == order.id)
        .order_by(WorkOrderEvent.occurred_at, WorkOrderEvent.id)
    )
    return list((await session.execute(stmt)).scalars())


async def reproject(
    session: AsyncSession,
    order: WorkOrder,
    history: list[WorkOrderEvent] | None = None,
    config: WorkOrderConfig | None = None,
) -> None:
    """Recompute the order's derived fields from its history (never incremented in place)."""
    events = history if history is not None else await history_of(session, order)
    config = config or await get_config(session, order.tenant_id)
    tenant = await _tenant(session, order.tenant_id)
    p = project(
        [_item(e) for e in events],
        await _targets(session, order),
        outer_limit=timedelta(days=config.outer_limit_days),
        timezone=tenant.timezone,
        day_hours=(config.day_start_hour, config.day_end_hour),
        flags=order.sla_flags or [],
    )
    order.status = p.status
    order.responded_at = p.responded_at
    order.replied_at = p.replied_at
    order.archived_at = p.archived_at
    order.response_due_at = p.response_due_at
    order.resolution_due_at = p.resolution_due_at
    order.outer_due_at = p.outer_due_at
    order.next_deadline_at = p.next_deadline_at
    order.handling_seconds = p.handling_seconds
    order.handling_day_seconds = p.handling_day_seconds
    order.paused_seconds = p.paused_seconds
    order.handoffs = p.handoffs
    order.on_time = p.on_time


async def _transition(
    session: AsyncSession,
    actor: Actor,
    order: WorkOrder,
    action: str,
    *,
    reason: str | None = None,
    to_department_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
    history: list[WorkOrderEvent] | None = None,
) -> WorkOrderEvent:
    try:
        target = next_status(action, order.status)
    except IllegalTransition as exc:
        raise Conflict(str(exc), code="illegal-transition", current_status=order.status, action=action) from None
    if action in REASON_REQUIRED and not (reason and reason.strip()):
        raise _invalid(f"Give a reason to {action.replace('_', ' ')} this order.", "reason")
    now = at or context_of(session).now()
    event = _event(
        order,
        actor,
        action,
        now,
        from_status=order.status,
        to_status=target.value,
        from_department_id=order.department_id if to_department_id else None,
        to_department_id=to_department_id,
        reason=reason,
        details=details,
    )
    session.add(event)
    if to_department_id is not None:
        order.department_id = to_department_id
    order.status = target.value
    order.updated_at = now
    events = ([*history, event]) if history is not None else None
    if events is None:
        await session.flush()
    await reproject(session, order, events)
    return event


async def _note(
    session: AsyncSession,
    actor: Actor,
    order: WorkOrder,
    action: str,
    *,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> WorkOrderEvent:
    now = context_of(session).now()
    event = _event(order, actor, action, now, reason=reason, details=details)
    session.add(event)
    order.updated_at = now
    return event


def _check_handler(actor: Actor, order: WorkOrder) -> None:
    """Back-office handlers (without dispatch rights) work only their own department's orders."""
    if actor.can(Permission.WORKORDERS_DISPATCH) or actor.kind is ActorKind.SYSTEM:
        return
    if order.department_id is None or order.department_id != actor.department_id:
        raise PermissionDenied("This order is with another department; only that department can work on it.")


async def _joins_incident(session: AsyncSession, order: WorkOrder, *, dispatching: bool) -> bool:
    """True when an open incident covers this complaint: it is (now) a member of the incident's master order
    and must not be dispatched on its own. ``kefu.alerts`` decides, links and counts the hand-off saved."""
    if order.kind != "complaint":
        return False
    from kefu.alerts import join_open_incident

    return await join_open_incident(session, order, dispatching=dispatching)


async def _record_complaint_event(
    session: AsyncSession, order: WorkOrder, *, now: datetime, caller_index: str | None
) -> None:
    """Early warning's outbox row for a new complaint (append-only). Not when the agent already wrapped up its
    source call with a complaint code: that call's row counted this complaint (one complaint, one event)."""
    if order.source_call_id is not None:
        counted = (
            await session.execute(
                sa.select(ComplaintEvent.id)
                .where(ComplaintEvent.tenant_id == order.tenant_id, ComplaintEvent.call_id == order.source_call_id)
                .limit(1)
            )
        ).scalar_one_or_none()
        if counted is not None:
            return
    session.add(
        ComplaintEvent(
            id=new_id(),
            tenant_id=order.tenant_id,
            order_id=order.id,
            call_id=order.source_call_id,
            occurred_at=now,
            area_path=order.area_path,
            category_path=order.category_path,
            caller_index=caller_index,
        )
    )


# --------------------------------------------------------------------------- creation


async def _caller(
    session: AsyncSession, tenant: Any, caller: str | None, customer_id: uuid.UUID | None
) -> tuple[str | None, str]:
    if caller:
        try:
            e164 = normalize_phone(caller)
        except InvalidPhoneNumber as exc:
            raise _invalid(str(exc), "caller") from None
        return context_of(session).pii(tenant).phone_index(e164), mask_phone(e164)
    if customer_id is not None:
        row = (
            await session.execute(
                sa.select(CustomerPhone.phone_index, CustomerPhone.phone_masked)
                .where(CustomerPhone.tenant_id == tenant.id, CustomerPhone.customer_id == customer_id)
                .order_by(CustomerPhone.position)
                .limit(1)
            )
        ).first()
        if row is not None:
            return row[0], row[1]
    return None, ""


async def do_create_work_order(
    session: AsyncSession,
    actor: Actor,
    *,
    title: str,
    category_id: uuid.UUID,
    description: str = "",
    priority: int = 2,
    channel: str = "phone",
    customer_id: uuid.UUID | None = None,
    caller: str | None = None,
    source_call_id: uuid.UUID | None = None,
    area_id: uuid.UUID | None = None,
    threatens_escalation: bool = False,
    dispatch: str | None = None,
    department_id: uuid.UUID | None = None,
    resolve_now: dict[str, Any] | None = None,
    kind: str = "complaint",
    parent: WorkOrder | None = None,
    created_at: datetime | None = None,
) -> WorkOrder:
    """Accept a complaint (受理); optionally resolve it at first contact or dispatch it at once.

    ``dispatch="auto"`` applies the dispatch rules (category × area → department, then the fallback);
    ``department_id`` dispatches manually; ``resolve_now={"resolution", "reply"}`` records it as
    intercepted (resolved during the call, no order dispatched).
    """
    require(actor, Permission.WORKORDERS_CREATE)
    assert actor.tenant_id is not None
    tenant = await _tenant(session, actor.tenant_id)
    if priority not in PRIORITIES:
        raise _invalid("Priority is 1 (low), 2 (normal), 3 (high) or 4 (urgent).", "priority")
    if channel not in CHANNELS:
        raise _invalid(f"Channel must be one of {', '.join(CHANNELS)}.", "channel")
    if not title.strip():
        raise _invalid("Give the order a title.", "title")
    category = await access_category_by_id(session, actor, category_id)
    if not category.is_active:
        raise _invalid(f"The category {category.path!r} is retired; choose another.", "category_id")
    customer = await access_customer_by_id(session, actor, customer_id) if customer_id else None
    area = None
    if area_id is not None:
        area = await access_area_by_id(session, actor, area_id)
    elif customer is not None and customer.area_id is not None:
        area = await session.get(Area, customer.area_id)
    if dispatch not in (None, "auto"):
        raise _invalid("dispatch is 'auto' (by the dispatch rules) or omitted.", "dispatch")
    if resolve_now is not None and (dispatch or department_id):
        raise _invalid("Either resolve the complaint now or dispatch it, not both.", "resolve_now")
    if department_id is not None:
        await access_department_by_id(session, actor, department_id)
    if resolve_now is not None:
        _check_reply(resolve_now.get("resolution"), resolve_now.get("reply"))
    caller_index, caller_masked = await _caller(session, tenant, caller, customer.id if customer else None)
    ctx = context_of(session)
    now = created_at or ctx.now()
    config = await get_config(session, tenant.id)
    order = WorkOrder(
        id=new_id(),
        tenant_id=tenant.id,
        kind=kind,
        parent_id=parent.id if parent else None,
        status=Status.ACCEPTED.value,
        priority=priority,
        channel=channel,
        title=title.strip()[:200],
        description=description,
        category_id=category.id,
        category_path=category.path,
        problem_class=problem_class(category.path),
        customer_id=customer.id if customer else None,
        source_call_id=source_call_id,
        caller_index=caller_index,
        caller_masked=caller_masked,
        area_id=area.id if area else None,
        area_path=area.path if area else "",
        created_by_id=actor.user_id,
        vip=bool(customer and customer.vip),
        threatens_escalation=threatens_escalation,
        created_at=now,
        updated_at=now,
        sla_flags=[],
        paused_seconds=0,
        handoffs=0,
        is_repeat=False,
        intercepted=False,
    )
    facts = await order_facts(session, order)
    target_department = department_id
    if dispatch == "auto":
        target_department = await resolve_department(session, tenant.id, facts)
        if target_department is None:
            raise _invalid(
                "No dispatch rule matches this category and area and no fallback department is set; "
                "choose a department.",
                "department_id",
            )
    policy = await _select_policy(session, tenant.id, facts) if kind == "complaint" else None
    order.sla_policy_id = policy.id if policy else None
    # The human-facing number is taken from the tenant's daily counter last (see the end): the counter row is
    # locked from then until commit, so taking it first would queue every concurrent creation behind this one.
    order.number = _PROVISIONAL_NUMBER + order.id.hex
    # repeat complaint: same calling number, same problem class, within the rolling window
    repeat_of = None
    if kind == "complaint" and caller_index:
        repeat_of = (
            await session.execute(
                sa.select(WorkOrder.id)
                .where(
                    WorkOrder.tenant_id == tenant.id,
                    WorkOrder.caller_index == caller_index,
                    WorkOrder.kind == "complaint",
                    WorkOrder.problem_class == order.problem_class,
                    WorkOrder.created_at >= now - timedelta(days=config.repeat_window_days),
                    WorkOrder.created_at <= now,
                )
                .order_by(WorkOrder.created_at.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
    order.is_repeat = repeat_of is not None
    order.repeat_of_id = repeat_of
    session.add(order)
    await session.flush()  # the order row first: history and outbox rows reference it
    created = _event(
        order,
        actor,
        "created",
        now,
        to_status=Status.ACCEPTED.value,
        details={
            "category": category.path,
            "sla_policy": policy.name if policy else None,
            **({"repeat_of": str(repeat_of)} if repeat_of else {}),
            **({"source_call_id": str(source_call_id)} if source_call_id else {}),
        },
    )
    session.add(created)
    history = [created]
    if kind == "complaint":
        await _record_complaint_event(session, order, now=now, caller_index=caller_index)
    await session.flush()
    if repeat_of is not None:
        session.add(
            WorkOrderLink(
                id=new_id(), tenant_id=tenant.id, from_id=order.id, to_id=repeat_of, kind="repeat", created_at=now
            )
        )
    # Early warning: a complaint covered by an open incident joins its master instead of being dispatched.
    joined = resolve_now is None and await _joins_incident(session, order, dispatching=target_department is not None)
    if resolve_now is not None:
        order.intercepted = True
        order.resolution = resolve_now["resolution"]
        order.reply = resolve_now["reply"]
        history.append(
            await _transition(
                session, actor, order, "intercept", at=now, history=history, details={"resolution": order.resolution}
            )
        )
    elif target_department is not None and not joined:
        history.append(
            await _transition(
                session,
                actor,
                order,
                "dispatch",
                at=now,
                history=history,
                to_department_id=target_department,
                details={"by": "rules" if dispatch == "auto" else "manual"},
            )
        )
    else:
        await reproject(session, order, history, config)
    order.number = await _next_number(session, tenant.id, config.number_prefix, now, tenant.timezone)
    await session.flush()
    return order


# --------------------------------------------------------------------------- lifecycle


def _check_reply(resolution: Any, reply: Any) -> None:
    if resolution not in RESOLUTIONS:
        raise _invalid(f"Say how far the problem was resolved: {', '.join(RESOLUTIONS)}.", "resolution")
    if not isinstance(reply, str) or not reply.strip():
        raise _invalid("Write the reply given to the customer.", "reply")


async def do_intercept_work_order(
    session: AsyncSession, actor: Actor, order_id: uuid.UUID, *, resolution: str, reply: str
) -> WorkOrder:
    """Resolve during the call (拦截): only an order never dispatched."""
    require(actor, Permission.WORKORDERS_DISPATCH)
    order = await access_work_order_by_id(session, actor, order_id, for_update=True)
    _check_reply(resolution, reply)
    if order.department_id is not None:
        raise Conflict(
            "This order was already dispatched to a department, so it cannot count as resolved at first "
            "contact; reply to it instead.",
            code="illegal-transition",
        )
    order.intercepted = True
    order.resolution = resolution
    order.reply = reply
    await _transition(session, actor, order, "intercept", details={"resolution": resolution})
    await session.flush()
    return order


async def do_dispatch_work_order(
    session: AsyncSession,
    actor: Actor,
    order_id: uuid.UUID,
    *,
    department_id: uuid.UUID | None = None,
    reason: str | None = None,
) -> WorkOrder:
    """Dispatch (派单) an accepted order, or transfer a dispatched one to another department.

    Without ``department_id`` the dispatch rules choose (then the fallback department).
    """
    require(actor, Permission.WORKORDERS_DISPATCH)
    order = await access_work_order_by_id(session, actor, order_id, for_update=True)
    if department_id is not None:
        await access_department_by_id(session, actor, department_id)
        by = "manual"
    elif order.status == Status.ACCEPTED and await _joins_incident(session, order, dispatching=True):
        await session.flush()
        return order  # handled with its incident's master order, not dispatched on its own
    else:
        department_id = await resolve_department(session, order.tenant_id, await order_facts(session, order))
        by = "rules"
        if department_id is None:
            raise _invalid(
                "No dispatch rule matches this order and no fallback department is set; choose a department.",
                "department_id",
            )
    action = "dispatch" if order.status == Status.ACCEPTED else "transfer"
    if action == "transfer" and department_id == order.department_id:
        raise Conflict("The order is already with that department.", code="illegal-transition")
    await _transition(session, actor, order, action, reason=reason, to_department_id=department_id, details={"by": by})
    if action == "transfer":
        order.assignee_id = None
    await session.flush()
    return order


async def do_take_work_order(session: AsyncSession, actor: Actor, order_id: uuid.UUID) -> WorkOrder:
    require(actor, Permission.WORKORDERS_HANDLE)
    order = await access_work_order_by_id(session, actor, order_id, for_update=True)
    _check_handler(actor, order)
    await _transition(session, actor, order, "take")
    order.assignee_id = actor.user_id
    await session.flush()
    return order


async def do_pend_work_order(session: AsyncSession, actor: Actor, order_id: uuid.UUID, *, reason: str) -> WorkOrder:
    """Wait for the customer (挂起): the SLA clock pauses until resumed."""
    require(actor, Permission.WORKORDERS_HANDLE)
    order = await access_work_order_by_id(session, actor, order_id, for_update=True)
    _check_handler(actor, order)
    await _transition(session, actor, order, "pend", reason=reason)
    await session.flush()
    return order


async def do_resume_work_order(session: AsyncSession, actor: Actor, order_id: uuid.UUID) -> WorkOrder:
    require(actor, Permission.WORKORDERS_HANDLE)
    order = await access_work_order_by_id(session, actor, order_id, for_update=True)
    _check_handler(actor, order)
    await _transition(session, actor, order, "resume")
    await session.flush()
    return order


async def do_return_work_order(session: AsyncSession, actor: Actor, order_id: uuid.UUID, *, reason: str) -> WorkOrder:
    """Send the order back to the complaint center (退单) with a reason; it must be dispatched again."""
    require(actor, Permission.WORKORDERS_HANDLE)
    order = await access_work_order_by_id(session, actor, order_id, for_update=True)
    _check_handler(actor, order)
    await _transition(
        session,
        actor,
        order,
        "return",
        reason=reason,
        details={"department_id": str(order.department_id) if order.department_id else None},
    )
    order.assignee_id = None
    await session.flush()
    return order


async def _open_children(session: AsyncSession, order: WorkOrder) -> int:
    return (
        await session.execute(
            sa.select(sa.func.count())
            .select_from(WorkOrder)
            .where(
                WorkOrder.tenant_id == order.tenant_id,
                WorkOrder.parent_id == order.id,
                WorkOrder.status.in_([s.value for s in OPEN_STATUSES]),
            )
        )
    ).scalar_one()


async def do_reply_work_order(
    session: AsyncSession,
    actor: Actor,
    order_id: uuid.UUID,
    *,
    resolution: str,
    reply: str,
    verification_result: str | None = None,
) -> WorkOrder:
    """Report back (回单) with the result and how far it was resolved.

    Sub-orders are archived with their reply. An incident's reply replies to every open member too.
    """
    require(actor, Permission.WORKORDERS_HANDLE)
    order = await access_work_order_by_id(session, actor, order_id, for_update=True)
    _check_handler(actor, order)
    _check_reply(resolution, reply)
    if order.kind == "verification" and verification_result not in ("upheld", "charge_valid"):
        raise _invalid(
            "A verification sub-order needs its result: 'upheld' (the refund stands) or "
            "'charge_valid' (the charge was right; the credit is reversed).",
            "verification_result",
        )
    open_children = await _open_children(session, order)
    if open_children:
        raise Conflict(
            f"{open_children} sub-order(s) of this order are still open; they must be replied first.",
            code="open-sub-orders",
        )
    if order.status != Status.IN_PROGRESS:
        next_status_or_conflict(order, "reply")
    order.resolution = resolution
    order.reply = reply
    details: dict[str, Any] = {"resolution": resolution}
    if verification_result:
        details["verification_result"] = verification_result
    await _transition(session, actor, order, "reply", details=details)
    if order.kind != "complaint":
        await _transition(session, actor, order, "archive")
    if order.kind == "verification" and verification_result == "charge_valid":
        from kefu.workorders.refunds import reverse_refund_for_verification

        await reverse_refund_for_verification(session, actor, order)
    members = (
        (
            await session.execute(
                sa.select(WorkOrder)
                .where(
                    WorkOrder.tenant_id == order.tenant_id,
                    WorkOrder.master_id == order.id,
                    WorkOrder.status.in_([s.value for s in OPEN_STATUSES]),
                )
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    for member in members:
        member.resolution = resolution
        member.reply = reply
        await _transition(session, actor, member, "reply_via_master", details={"master": order.number})
    await session.flush()
    return order


def next_status_or_conflict(order: WorkOrder, action: str) -> None:
    try:
        next_status(action, order.status)
    except IllegalTransition as exc:
        raise Conflict(str(exc), code="illegal-transition", current_status=order.status, action=action) from None


async def do_archive_work_order(session: AsyncSession, actor: Actor, order_id: uuid.UUID) -> WorkOrder:
    require(actor, Permission.WORKORDERS_DISPATCH)
    order = await access_work_order_by_id(session, actor, order_id, for_update=True)
    await _transition(session, actor, order, "archive")
    await session.flush()
    return order


async def do_start_follow_up_notified(
    session: AsyncSession,
    actor: Actor,
    order_id: uuid.UUID,
    *,
    channel: str,
    sms_message_id: uuid.UUID | None = None,
    reason: str | None = None,
) -> WorkOrder:
    """Start the follow-up (回访) of a replied complaint whose customer another domain has already contacted:
    the SMS that tells them an incident is fixed and asks for their rating, or a callback task."""
    require(actor, Permission.WORKORDERS_HANDLE)
    if channel not in ("sms", "call"):
        raise _invalid("Follow up by 'sms' or 'call'.", "channel")
    order = await access_work_order_by_id(session, actor, order_id, for_update=True)
    if order.kind != "complaint":
        raise Conflict("Sub-orders are not followed up with the customer; the complaint is.")
    next_status_or_conflict(order, "start_follow_up")
    session.add(
        FollowUp(
            id=new_id(),
            tenant_id=order.tenant_id,
            order_id=order.id,
            channel=channel,
            status="sent",
            sent_at=context_of(session).now(),
            actor_id=actor.id,
            sms_message_id=sms_message_id,
        )
    )
    await _transition(session, actor, order, "start_follow_up", reason=reason, details={"channel": channel})
    await _note(session, actor, order, "follow_up_sent", details={"channel": channel})
    await session.flush()
    return order


async def do_reopen_work_order(session: AsyncSession, actor: Actor, order_id: uuid.UUID, *, reason: str) -> WorkOrder:
    """Reopen a replied or archived order; it goes back to the complaint center to be handled again."""
    require(actor, Permission.WORKORDERS_DISPATCH)
    order = await access_work_order_by_id(session, actor, order_id, for_update=True)
    await _transition(session, actor, order, "reopen", reason=reason)
    order.resolution = None
    await session.flush()
    return order


async def do_comment_work_order(session: AsyncSession, actor: Actor, order_id: uuid.UUID, *, text: str) -> WorkOrder:
    require(actor, Permission.WORKORDERS_HANDLE)
    order = await access_work_order_by_id(session, actor, order_id)
    if not text.strip():
        raise _invalid("The comment is empty.", "text")
    await _note(session, actor, order, "comment", reason=text.strip()[:500])
    await session.flush()
    return order


async def do_update_work_order(
    session: AsyncSession, actor: Actor, order_id: uuid.UUID, changes: dict[str, Any]
) -> WorkOrder:
    """Change priority, category, title/description or the escalation flag; SLA policy re-selected."""
    require(actor, Permission.WORKORDERS_DISPATCH)
    order = await access_work_order_by_id(session, actor, order_id, for_update=True)
    if order.status in (Status.ARCHIVED, Status.MERGED):
        raise Conflict("This order is closed; reopen it to change it.", code="illegal-transition")
    before = {
        "priority": order.priority,
        "category": order.category_path,
        "title": order.title,
        "threatens_escalation": order.threatens_escalation,
    }
    # Validate everything (and load referenced rows) before changing the order: no write before a refusal.
    if changes.get("priority") is not None and changes["priority"] not in PRIORITIES:
        raise _invalid("Priority is 1 (low) … 4 (urgent).", "priority")
    category = None
    if changes.get("category_id") is not None:
        category = await access_category_by_id(session, actor, changes["category_id"])
        if not category.is_active:
            raise _invalid(f"The category {category.path!r} is retired; choose another.", "category_id")
    if changes.get("priority") is not None:
        order.priority = changes["priority"]
    if category is not None:
        order.category_id, order.category_path = category.id, category.path
        order.problem_class = problem_class(category.path)
    for field in ("title", "description"):
        if changes.get(field) is not None:
            setattr(order, field, changes[field])
    if changes.get("threatens_escalation") is not None:
        order.threatens_escalation = bool(changes["threatens_escalation"])
    after = {
        "priority": order.priority,
        "category": order.category_path,
        "title": order.title,
        "threatens_escalation": order.threatens_escalation,
    }
    diff = {k: {"before": before[k], "after": after[k]} for k in before if before[k] != after[k]}
    if not diff and not changes.get("description"):
        return order
    await _note(session, actor, order, "priority_changed" if "priority" in diff else "flag", details=diff)
    if order.kind == "complaint" and ({"priority", "category"} & set(diff)):
        await _reselect_policy(session, actor, order)
    await session.flush()
    await reproject(session, order)
    return order


async def _reselect_policy(session: AsyncSession, actor: Actor, order: WorkOrder) -> None:
    policy = await _select_policy(session, order.tenant_id, await order_facts(session, order))
    new_id_ = policy.id if policy else None
    if new_id_ != order.sla_policy_id:
        order.sla_policy_id = new_id_
        await _note(session, actor, order, "sla_policy", details={"policy": policy.name if policy else None})


async def do_merge_work_order(
    session: AsyncSession, actor: Actor, order_id: uuid.UUID, *, into_id: uuid.UUID, reason: str | None = None
) -> WorkOrder:
    """Close ``order_id`` as a duplicate of ``into_id`` (并单); the target must be open."""
    require(actor, Permission.WORKORDERS_DISPATCH)
    order = await access_work_order_by_id(session, actor, order_id, for_update=True)
    target = await access_work_order_by_id(session, actor, into_id)
    if target.id == order.id:
        raise _invalid("An order cannot be merged into itself.", "into_id")
    if target.status in (Status.MERGED, Status.ARCHIVED):
        raise Conflict(f"Order {target.number} is closed; merge into an open order.", code="illegal-transition")
    await _transition(session, actor, order, "merge", reason=reason, details={"into": target.number})
    order.merged_into_id = target.id
    session.add(
        WorkOrderLink(
            id=new_id(),
            tenant_id=order.tenant_id,
            from_id=order.id,
            to_id=target.id,
            kind="merged",
            created_at=context_of(session).now(),
        )
    )
    await _note(session, actor, target, "link", details={"merged": order.number})
    await session.flush()
    return order


async def do_link_work_orders(
    session: AsyncSession, actor: Actor, order_id: uuid.UUID, *, other_id: uuid.UUID, kind: str
) -> WorkOrderLink:
    """Link two orders: related, duplicate, or incident (``order_id`` becomes a member of master ``other_id``)."""
    require(actor, Permission.WORKORDERS_DISPATCH)
    if kind not in LINK_KINDS:
        raise _invalid(f"Link kinds are {', '.join(LINK_KINDS)}.", "kind")
    order = await access_work_order_by_id(session, actor, order_id, for_update=True)
    other = await access_work_order_by_id(session, actor, other_id)
    if other.id == order.id:
        raise _invalid("An order cannot be linked to itself.", "other_id")
    exists = (
        await session.execute(
            sa.select(WorkOrderLink.id).where(
                WorkOrderLink.tenant_id == order.tenant_id,
                WorkOrderLink.from_id == order.id,
                WorkOrderLink.to_id == other.id,
                WorkOrderLink.kind == kind,
            )
        )
    ).first()
    if exists:
        raise Conflict("These orders are already linked that way.")
    if kind == "incident":
        if other.master_id is not None:
            raise Conflict(f"Order {other.number} is itself a member of an incident; link to its master.")
        if order.master_id is not None:
            raise Conflict("This order already belongs to an incident.")
        has_members = (
            await session.execute(
                sa.select(WorkOrder.id)
                .where(WorkOrder.tenant_id == order.tenant_id, WorkOrder.master_id == order.id)
                .limit(1)
            )
        ).first()
        if has_members:
            raise Conflict("This order is the master of an incident and cannot join another.")
        order.master_id = other.id
    link = WorkOrderLink(
        id=new_id(),
        tenant_id=order.tenant_id,
        from_id=order.id,
        to_id=other.id,
        kind=kind,
        created_at=context_of(session).now(),
    )
    session.add(link)
    await _note(session, actor, order, "link", details={"kind": kind, "to": other.number})
    await session.flush()
    return link


async def do_create_sub_order(
    session: AsyncSession,
    actor: Actor,
    parent_id: uuid.UUID,
    *,
    department_id: uuid.UUID,
    description: str,
    kind: str = "sub_order",
    title: str | None = None,
) -> WorkOrder:
    """A co-handling sub-order (协办) dispatched to another department; the parent waits for it to reply."""
    require(actor, Permission.WORKORDERS_DISPATCH)
    parent = await access_work_order_by_id(session, actor, parent_id, for_update=True)
    if parent.kind != "complaint":
        raise Conflict("Sub-orders hang off complaints, not off other sub-orders.")
    if parent.status in (Status.ARCHIVED, Status.MERGED):
        raise Conflict("This order is closed; reopen it before asking another department.")
    await access_department_by_id(session, actor, department_id)
    if not description.strip():
        raise _invalid("Say what the other department should do.", "description")
    system = (
        actor
        if actor.can(Permission.WORKORDERS_CREATE)
        else Actor(
            actor.kind,
            actor.tenant_id,
            actor.id,
            actor.name,
            actor.permissions | {Permission.WORKORDERS_CREATE.value},
            roles=actor.roles,
            ip=actor.ip,
            user_agent=actor.user_agent,
            department_id=actor.department_id,
        )
    )
    assert parent.category_id is not None
    sub = await do_create_work_order(
        session,
        system,
        title=title or f"{'核查' if kind == 'verification' else '协办'}：{parent.title}"[:200],
        category_id=parent.category_id,
        description=description,
        priority=parent.priority,
        channel=parent.channel,
        customer_id=parent.customer_id,
        area_id=parent.area_id,
        department_id=department_id,
        kind=kind,
        parent=parent,
    )
    await _note(
        session,
        actor,
        parent,
        "sub_order",
        details={"number": sub.number, "kind": kind, "department_id": str(department_id)},
    )
    await session.flush()
    return sub


async def do_add_attachment(
    session: AsyncSession, actor: Actor, order_id: uuid.UUID, *, filename: str, content_type: str, content_base64: str
) -> Attachment:
    require(actor, Permission.WORKORDERS_HANDLE)
    order = await access_work_order_by_id(session, actor, order_id)
    try:
        content = base64.b64decode(content_base64, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("content_base64 is not valid base64.", "content_base64") from None
    if not content:
        raise _invalid("The attachment is empty.", "content_base64")
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise _invalid(f"Attachments are limited to {MAX_ATTACHMENT_BYTES // 1024} KiB.", "content_base64")
    row = Attachment(
        id=new_id(),
        tenant_id=order.tenant_id,
        order_id=order.id,
        filename=filename[:200],
        content_type=content_type[:100],
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
        created_at=context_of(session).now(),
        created_by_id=actor.user_id,
    )
    session.add(row)
    await _note(session, actor, order, "attachment", details={"filename": row.filename, "size": row.size})
    await session.flush()
    return row


# --------------------------------------------------------------------------- SLA bookkeeping (scheduler)


async def record_sla_checkpoints(session: AsyncSession, order: WorkOrder, now: datetime) -> list[SlaEvent]:
    """Record warnings and breaches that are due for one order, run escalations, move ``next_deadline_at``."""
    tenant = await _tenant(session, order.tenant_id)
    config = await get_config(session, order.tenant_id)
    p = project(
        [_item(e) for e in await history_of(session, order)],
        await _targets(session, order),
        outer_limit=timedelta(days=config.outer_limit_days),
        timezone=tenant.timezone,
        day_hours=(config.day_start_hour, config.day_end_hour),
        flags=order.sla_flags or [],
    )
    system = Actor.system("sla-scheduler", order.tenant_id, frozenset(Permission))
    recorded = []
    flags = list(order.sla_flags or [])
    for kind, target, due in p.pending_checks:
        if due > now:
            break
        flags.append(f"{target}:{kind}")
        inserted = await session.execute(
            _insert(session)(SlaEvent)
            .values(
                id=new_id(),
                tenant_id=order.tenant_id,
                order_id=order.id,
                kind=kind,
                target=target,
                due_at=due,
                occurred_at=now,
                policy_id=order.sla_policy_id,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "order_id", "kind", "target"])
        )
        if not inserted.rowcount:  # type: ignore[attr-defined]
            continue
        event = SlaEvent(order_id=order.id, kind=kind, target=target, due_at=due, occurred_at=now)
        recorded.append(event)
        await _note(session, system, order, f"sla_{kind}", details={"target": target, "due_at": due.isoformat()})
        if kind == "breach":
            await _escalate(session, system, order, target)
    order.sla_flags = flags
    await session.flush()
    await reproject(session, order)
    return recorded


async def _escalate(session: AsyncSession, system: Actor, order: WorkOrder, target: str) -> None:
    policy = await session.get(SlaPolicy, order.sla_policy_id) if order.sla_policy_id else None
    actions = list(policy.escalations) if policy else []
    if target == "outer" and "notify" not in actions:
        actions.append("notify")  # the regulator's window always tells a supervisor
    for action in actions:
        details: dict[str, Any] = {"target": target, "action": action}
        if action == "raise_priority" and order.priority < 4:
            details["priority"] = {"before": order.priority, "after": order.priority + 1}
            order.priority += 1
        elif action == "reassign_supervisor":
            supervisor = await _supervisor_for(session, order)
            if supervisor is not None:
                details["assignee"] = {
                    "before": str(order.assignee_id) if order.assignee_id else None,
                    "after": str(supervisor),
                }
                order.assignee_id = supervisor
        elif action == "notify":
            details["notify"] = "department supervisors"
        await _note(session, system, order, "escalated", details=details)


async def _supervisor_for(session: AsyncSession, order: WorkOrder) -> uuid.UUID | None:
    from kefu.tenancy.models import User

    users = (
        (
            await session.execute(
                sa.select(User)
                .where(User.tenant_id == order.tenant_id, User.is_active.is_(True))
                .order_by(User.username)
            )
        )
        .scalars()
        .all()
    )
    supervisors = [u for u in users if "supervisor" in (u.roles or [])]
    same = [u for u in supervisors if order.department_id and u.department_id == order.department_id]
    chosen = (same or supervisors or [None])[0]
    return chosen.id if chosen else None


async def recompute_open_orders(session: AsyncSession, tenant_id: uuid.UUID, *, policy_ids: list[uuid.UUID]) -> int:
    """Recompute the deadlines of open orders under these policies (after a policy or calendar change)."""
    count = 0
    last: uuid.UUID | None = None
    while True:
        stmt = sa.select(WorkOrder).where(
            WorkOrder.tenant_id == tenant_id,
            WorkOrder.sla_policy_id.in_(policy_ids),
            WorkOrder.status.not_in([Status.ARCHIVED.value, Status.MERGED.value]),
        )
        if last is not None:
            stmt = stmt.where(WorkOrder.id > last)
        batch = list((await session.execute(stmt.order_by(WorkOrder.id).limit(500))).scalars())
        if not batch:
            return count
        for order in batch:
            await reproject(session, order)
            count += 1
        last = batch[-1].id
        await session.flush()


# --------------------------------------------------------------------------- configuration


async def do_create_category(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    parent_id: uuid.UUID | None = None,
    code: str | None = None,
    position: int = 0,
) -> Category:
    require(actor, Permission.WORKORDERS_ADMIN)
    name = name.strip()
    if not name or "/" in name:
        raise _invalid("A category name must not be empty or contain '/'.", "name")
    parent = await access_category_by_id(session, actor, parent_id) if parent_id else None
    path = f"{parent.path}/{name}" if parent else name
    if (
        await session.execute(
            sa.select(Category.id).where(Category.tenant_id == actor.tenant_id, Category.path == path)
        )
    ).first():
        raise Conflict(f"The category {path!r} already exists.")
    row = Category(
        id=new_id(),
        tenant_id=actor.tenant_id,
        parent_id=parent.id if parent else None,
        name=name,
        code=code,
        level=(parent.level + 1) if parent else 1,
        path=path,
        position=position,
        is_active=True,
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session, actor, "category.created", target_type="category", target_id=row.id, details={"path": path}
    )
    return row


async def do_update_category(
    session: AsyncSession, actor: Actor, category_id: uuid.UUID, changes: dict[str, Any]
) -> Category:
    require(actor, Permission.WORKORDERS_ADMIN)
    row = await access_category_by_id(session, actor, category_id)
    for field in ("is_active", "position", "code"):
        if changes.get(field) is not None:
            setattr(row, field, changes[field])
    await audit.record(
        session,
        actor,
        "category.updated",
        target_type="category",
        target_id=row.id,
        details={k: v for k, v in changes.items() if v is not None},
    )
    await session.flush()
    return row


async def ensure_category_path(session: AsyncSession, actor: Actor, path: str) -> Category:
    """The category at ``a/b/c``, creating missing levels (seeds); no audit per level."""
    parts = [p.strip() for p in path.split("/") if p.strip()]
    parent: Category | None = None
    for depth in range(1, len(parts) + 1):
        sub = "/".join(parts[:depth])
        row = (
            await session.execute(
                sa.select(Category).where(Category.tenant_id == actor.tenant_id, Category.path == sub)
            )
        ).scalar_one_or_none()
        if row is None:
            row = Category(
                id=new_id(),
                tenant_id=actor.tenant_id,
                parent_id=parent.id if parent else None,
                name=parts[depth - 1],
                level=depth,
                path=sub,
                position=0,
                is_active=True,
            )
            session.add(row)
            await session.flush()
        parent = row
    if parent is None:
        raise _invalid("The category path is empty.", "category")
    return parent


async def do_save_dispatch_rule(
    session: AsyncSession,
    actor: Actor,
    *,
    rule_id: uuid.UUID | None = None,
    department_id: uuid.UUID,
    category_id: uuid.UUID | None = None,
    area_id: uuid.UUID | None = None,
    position: int = 100,
    name: str = "",
    is_active: bool = True,
) -> DispatchRule:
    require(actor, Permission.WORKORDERS_ADMIN)
    await access_department_by_id(session, actor, department_id)
    if category_id is not None:
        await access_category_by_id(session, actor, category_id)
    if area_id is not None:
        await access_area_by_id(session, actor, area_id)
    if rule_id is not None:
        from kefu.workorders.access import access_dispatch_rule_by_id

        row = await access_dispatch_rule_by_id(session, actor, rule_id)
    else:
        row = DispatchRule(id=new_id(), tenant_id=actor.tenant_id)
        session.add(row)
    row.department_id, row.category_id, row.area_id = department_id, category_id, area_id
    row.position, row.name, row.is_active = position, name, is_active
    await session.flush()
    await audit.record(
        session,
        actor,
        "dispatch_rule.saved",
        target_type="dispatch_rule",
        target_id=row.id,
        details={
            "department_id": str(department_id),
            "category_id": str(category_id),
            "area_id": str(area_id),
            "position": position,
        },
    )
    return row


async def do_delete_dispatch_rule(session: AsyncSession, actor: Actor, rule_id: uuid.UUID) -> None:
    require(actor, Permission.WORKORDERS_ADMIN)
    from kefu.workorders.access import access_dispatch_rule_by_id

    row = await access_dispatch_rule_by_id(session, actor, rule_id)
    await session.delete(row)
    await audit.record(session, actor, "dispatch_rule.deleted", target_type="dispatch_rule", target_id=rule_id)
    await session.flush()


async def do_save_calendar(
    session: AsyncSession,
    actor: Actor,
    *,
    calendar_id: uuid.UUID | None = None,
    name: str,
    timezone: str,
    week: dict[str, Any],
    holidays: list[str],
    workdays: list[str],
) -> BusinessCalendar:
    require(actor, Permission.WORKORDERS_ADMIN)
    try:
        build_calendar(timezone, week, holidays, workdays)
    except CalendarError as exc:
        raise _invalid(str(exc), "week") from None
    if calendar_id is not None:
        from kefu.workorders.access import access_calendar_by_id

        row = await access_calendar_by_id(session, actor, calendar_id)
    else:
        if (
            await session.execute(
                sa.select(BusinessCalendar.id).where(
                    BusinessCalendar.tenant_id == actor.tenant_id, BusinessCalendar.name == name
                )
            )
        ).first():
            raise Conflict(f"A calendar named {name!r} exists already.")
        row = BusinessCalendar(id=new_id(), tenant_id=actor.tenant_id)
        session.add(row)
    row.name, row.timezone, row.week = name, timezone, week
    row.holidays, row.workdays = sorted(set(holidays)), sorted(set(workdays))
    await session.flush()
    await audit.record(
        session, actor, "calendar.saved", target_type="business_calendar", target_id=row.id, details={"name": name}
    )
    if calendar_id is not None:
        policies = (
            (
                await session.execute(
                    sa.select(SlaPolicy.id).where(
                        SlaPolicy.tenant_id == actor.tenant_id, SlaPolicy.calendar_id == row.id
                    )
                )
            )
            .scalars()
            .all()
        )
        if policies:
            await recompute_open_orders(session, row.tenant_id, policy_ids=list(policies))
    return row


async def do_save_sla_policy(
    session: AsyncSession,
    actor: Actor,
    *,
    policy_id: uuid.UUID | None = None,
    name: str,
    response_minutes: int,
    resolution_minutes: int,
    position: int = 100,
    is_default: bool = False,
    is_active: bool = True,
    conditions: dict[str, Any] | None = None,
    calendar_id: uuid.UUID | None = None,
    warn_ratio: float = 0.8,
    escalations: list[str] | None = None,
) -> SlaPolicy:
    """Create or change an SLA policy; open orders under it get their deadlines recomputed from history."""
    require(actor, Permission.WORKORDERS_ADMIN)
    from kefu.workorders.rules import sla_condition_problems

    conditions = conditions or {}
    problems = sla_condition_problems(conditions)
    if problems:
        raise _invalid(" ".join(problems), "conditions")
    for cid in conditions.get("category_ids", []):
        try:
            await access_category_by_id(session, actor, uuid.UUID(str(cid)))
        except ValueError:
            raise _invalid(f"{cid!r} is not a category id.", "conditions") from None
    if is_default and conditions:
        raise _invalid("The default policy applies when no other matches; give it no conditions.", "conditions")
    bad = [e for e in escalations or [] if e not in ("notify", "raise_priority", "reassign_supervisor")]
    if bad:
        raise _invalid(
            f"Unknown escalation {bad[0]!r}; use notify, raise_priority or reassign_supervisor.", "escalations"
        )
    if response_minutes <= 0 or resolution_minutes <= 0:
        raise _invalid("Targets are positive numbers of minutes.", "resolution_minutes")
    if calendar_id is not None:
        from kefu.workorders.access import access_calendar_by_id

        await access_calendar_by_id(session, actor, calendar_id)
    if policy_id is not None:
        from kefu.workorders.access import access_sla_policy_by_id

        row = await access_sla_policy_by_id(session, actor, policy_id)
    else:
        if (
            await session.execute(
                sa.select(SlaPolicy.id).where(SlaPolicy.tenant_id == actor.tenant_id, SlaPolicy.name == name)
            )
        ).first():
            raise Conflict(f"An SLA policy named {name!r} exists already.")
        row = SlaPolicy(id=new_id(), tenant_id=actor.tenant_id)
    if is_default:
        other_default = (
            await session.execute(
                sa.select(SlaPolicy.name).where(
                    SlaPolicy.tenant_id == actor.tenant_id, SlaPolicy.is_default.is_(True), SlaPolicy.id != row.id
                )
            )
        ).scalar_one_or_none()
        if other_default:
            raise Conflict(f"{other_default!r} is already the default policy; there is exactly one default.")
    row.name, row.position, row.is_default, row.is_active = name, position, is_default, is_active
    row.conditions, row.calendar_id, row.warn_ratio = conditions, calendar_id, warn_ratio
    row.response_minutes, row.resolution_minutes = response_minutes, resolution_minutes
    row.escalations = list(escalations or [])
    row.updated_at = context_of(session).now()
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        actor,
        "sla_policy.saved",
        target_type="sla_policy",
        target_id=row.id,
        details={
            "name": name,
            "response_minutes": response_minutes,
            "resolution_minutes": resolution_minutes,
            "conditions": conditions,
        },
    )
    if policy_id is not None:
        await recompute_open_orders(session, row.tenant_id, policy_ids=[row.id])
    return row


async def do_update_config(session: AsyncSession, actor: Actor, changes: dict[str, Any]) -> WorkOrderConfig:
    require(actor, Permission.WORKORDERS_ADMIN)
    assert actor.tenant_id is not None
    for key in ("fallback_department_id", "verification_department_id"):
        if changes.get(key) is not None:
            await access_department_by_id(session, actor, changes[key])
    if changes.get("authority_default") not in (None, "approve", "supervisor", "refuse"):
        raise _invalid("authority_default is approve, supervisor or refuse.", "authority_default")
    if changes.get("follow_up_channel") not in (None, "sms", "call"):
        raise _invalid("follow_up_channel is sms or call.", "follow_up_channel")
    nullable = {
        "fallback_department_id",
        "verification_department_id",
        "agent_daily_budget_cents",
        "agent_monthly_budget_cents",
        "team_daily_budget_cents",
        "team_monthly_budget_cents",
    }
    changes = {k: v for k, v in changes.items() if v is not None or k in nullable}
    row = await get_config(session, actor.tenant_id, create=True)
    before = {k: getattr(row, k) for k in changes}
    for key, value in changes.items():
        setattr(row, key, value)
    if row.day_start_hour >= row.day_end_hour:
        raise _invalid("The day starts before it ends (day_start_hour < day_end_hour).", "day_start_hour")
    await session.flush()
    await audit.record(
        session,
        actor,
        "workorder_config.changed",
        target_type="work_order_config",
        target_id=row.id,
        details={"before": {k: str(v) for k, v in before.items()}, "after": {k: str(v) for k, v in changes.items()}},
    )
    return row
