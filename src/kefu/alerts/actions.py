"""Writes of early warning: alerts from the detector, incidents, IVR subscriptions, callbacks.

* :func:`record_alert_updates` / :func:`close_finished_alerts` store what the tenant's detector said
  (called by :mod:`kefu.alerts.jobs`, in the transaction that also saves the detector's state).
* :func:`do_open_incident` turns an alert into an incident: ONE master work order (kind ``incident``)
  created and dispatched once through the work-order actions, every open complaint of the alert's
  area × category subtree linked to it.
* :func:`join_open_incident` is what the work-order dispatch path asks before dispatching a complaint:
  a complaint covered by an open incident joins its master instead, and the hand-off saved is counted.
* :func:`do_resolve_incident` replies to the master (its members are replied with it), moves the
  members to follow-up together and tells every customer: an SMS (which is also their satisfaction
  follow-up) or, without a mobile number, a callback task; then every IVR subscriber gets an SMS.
* :func:`record_incident_call` is the IVR's ``sms_incident_notice``: subscribe the caller, record the
  call as an intercepted complaint linked to the incident.

Every action runs in its caller's transaction and flushes; real-time messages and router tasks leave
after commit (``after_commit``), so a rolled-back action notifies nobody.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu import audit
from kefu.alerts.access import access_alert_by_id, access_incident_by_id
from kefu.alerts.detector import AlertUpdate
from kefu.alerts.models import Alert, AlertUpdateRecord, Incident, IncidentNotice, IncidentSubscriber
from kefu.alerts.policy import (
    AlertSettings,
    covers,
    fill,
    incident_description,
    incident_title,
    is_mobile,
    leaf,
    most_specific,
    path_under,
)
from kefu.alerts.rules import format_path
from kefu.core.actor import Actor
from kefu.core.context import context_of
from kefu.core.db import after_commit
from kefu.core.errors import Conflict, InvalidInput, NotFound
from kefu.core.ids import new_id
from kefu.core.pii import mask_phone
from kefu.tenancy import Permission, get_tenant, require, save_settings_section
from kefu.workorders import (
    OPEN_STATUSES,
    Category,
    WorkOrder,
    do_comment_work_order,
    do_create_work_order,
    do_dispatch_work_order,
    do_link_work_orders,
    do_reply_work_order,
    do_resume_work_order,
    do_start_follow_up_notified,
    do_take_work_order,
)

log = logging.getLogger("kefu.alerts")

TOPIC = "alerts"
RESOLUTIONS = ("resolved", "partly_resolved", "unresolved")
_OPEN = [s.value for s in OPEN_STATUSES]
#: What the acting person needs on the work orders an incident creates and moves (beyond incidents.manage).
_ORDER_RIGHTS = frozenset(
    {
        Permission.WORKORDERS_CREATE.value,
        Permission.WORKORDERS_READ.value,
        Permission.WORKORDERS_DISPATCH.value,
        Permission.WORKORDERS_HANDLE.value,
    }
)


def system_actor(tenant_id: uuid.UUID) -> Actor:
    """Early warning acting on its own (policy auto-open, complaints joining an incident, the IVR)."""
    return Actor.system("预警 early-warning", tenant_id, _ORDER_RIGHTS | {Permission.INCIDENTS_MANAGE.value})


def _acting(actor: Actor) -> Actor:
    """The supervisor, with the work-order rights an incident implies: the history names them."""
    return replace(actor, permissions=actor.permissions | _ORDER_RIGHTS)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _invalid(detail: str, field: str) -> InvalidInput:
    return InvalidInput(detail, errors=[{"field": field, "message": detail}])


def publish_later(session: AsyncSession, tenant_id: uuid.UUID, type_: str, data: dict[str, Any]) -> None:
    """Push to the ``alerts`` topic once the transaction has committed."""
    hub = context_of(session).services.get("hub")
    if hub is not None:
        after_commit(session, lambda: hub.publish(tenant_id, TOPIC, type_, data))


def alert_summary(a: Alert) -> dict[str, Any]:
    return {
        "id": str(a.id),
        "area_path": a.area_path,
        "category_path": a.category_path,
        "count": a.count,
        "expected": round(a.expected, 3),
        "score": round(a.score, 2),
        "status": a.status,
        "detected_at": a.detected_at.isoformat(),
        "last_seen_at": a.last_seen_at.isoformat(),
        "incident_id": str(a.incident_id) if a.incident_id else None,
    }


async def _bump(session: AsyncSession, incident: Incident, **deltas: int) -> None:
    """Add to an incident's counters in one UPDATE (concurrent joins never lose a count)."""
    deltas = {k: v for k, v in deltas.items() if v}
    if not deltas:
        return
    await session.execute(
        sa.update(Incident)
        .where(Incident.tenant_id == incident.tenant_id, Incident.id == incident.id)
        .values({k: getattr(Incident, k) + v for k, v in deltas.items()})
        .execution_options(synchronize_session=False)
    )
    await session.refresh(incident, list(deltas))


# --------------------------------------------------------------------------- alerts (from the detector)


async def record_alert_updates(
    session: AsyncSession, tenant_id: uuid.UUID, generation: int, updates: Sequence[AlertUpdate], now: datetime
) -> list[tuple[str, dict[str, Any]]]:
    """Store the detector's updates: each alert row upserted, each update a point of its timeline.

    Returns the real-time messages to publish after commit (one per alert: ``alert.new`` when it first
    appeared in this batch, else ``alert.grow``, with its final state).
    """
    if not updates:
        return []
    ids = sorted({u.alert_id for u in updates})
    rows = {
        r.detector_id: r
        for r in (
            await session.execute(
                sa.select(Alert).where(
                    Alert.tenant_id == tenant_id, Alert.generation == generation, Alert.detector_id.in_(ids)
                )
            )
        ).scalars()
    }
    created: set[str] = set()
    touched: dict[str, Alert] = {}
    for u in updates:
        row = rows.get(u.alert_id)
        if row is None:
            row = Alert(
                id=new_id(),
                tenant_id=tenant_id,
                generation=generation,
                detector_id=u.alert_id,
                status="open",
                incident_id=None,
                closed_at=None,
            )
            session.add(row)
            rows[u.alert_id] = row
            created.add(u.alert_id)
        row.area_path = format_path(u.area)[:500]
        row.category_path = format_path(u.category)[:400]
        row.start_at = _dt(u.start)
        row.detected_at = _dt(u.detected_at)
        row.last_seen_at = _dt(u.last_seen)
        row.count = u.count
        row.expected = float(u.expected)
        row.score = float(u.score)
        row.window_seconds = float(u.window)
        row.folded = [[format_path(a), format_path(c), round(s, 3)] for a, c, s in u.folded][:50]
        row.updated_at = now
        touched[u.alert_id] = row
    await session.flush()
    session.add_all(
        [
            AlertUpdateRecord(
                id=new_id(),
                tenant_id=tenant_id,
                alert_id=rows[u.alert_id].id,
                kind=u.kind if u.kind in ("new", "grow") else "grow",
                at=_dt(u.last_seen),
                count=u.count,
                expected=float(u.expected),
                score=float(u.score),
                area_path=format_path(u.area)[:500],
                category_path=format_path(u.category)[:400],
                recorded_at=now,
            )
            for u in updates
        ]
    )
    await session.flush()
    return [("alert.new" if key in created else "alert.grow", alert_summary(row)) for key, row in touched.items()]


async def close_finished_alerts(
    session: AsyncSession, tenant_id: uuid.UUID, generation: int, open_ids: set[str], now: datetime
) -> list[tuple[str, dict[str, Any]]]:
    """Alerts the detector no longer holds open (cool-down over, or an older generation) become closed."""
    rows = (
        await session.execute(sa.select(Alert).where(Alert.tenant_id == tenant_id, Alert.status == "open"))
    ).scalars()
    out = []
    for row in rows:
        if row.generation == generation and row.detector_id in open_ids:
            continue
        row.status = "closed"
        row.closed_at = now
        row.updated_at = now
        out.append(("alert.closed", alert_summary(row)))
    await session.flush()
    return out


# --------------------------------------------------------------------------- incidents


async def _category_for(session: AsyncSession, tenant_id: uuid.UUID, path: str) -> Any:
    """The active category at ``path``, else its nearest active ancestor (the taxonomy may have moved on)."""
    parts = path.split("/")
    paths = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    rows = (
        await session.execute(
            sa.select(Category).where(
                Category.tenant_id == tenant_id, Category.path.in_(paths), Category.is_active.is_(True)
            )
        )
    ).scalars()
    return max(rows, key=lambda c: len(c.path), default=None)


async def _area_id(session: AsyncSession, tenant_id: uuid.UUID, path: str) -> uuid.UUID | None:
    from kefu.customers.models import Area

    return (
        await session.execute(sa.select(Area.id).where(Area.tenant_id == tenant_id, Area.path == path))
    ).scalar_one_or_none()


async def open_incidents(session: AsyncSession, tenant_id: uuid.UUID) -> list[Incident]:
    """Incidents that still take complaints: open, and their master order not yet replied."""
    stmt = (
        sa.select(Incident)
        .join(WorkOrder, sa.and_(WorkOrder.id == Incident.master_order_id, WorkOrder.tenant_id == Incident.tenant_id))
        .where(Incident.tenant_id == tenant_id, Incident.status == "open", WorkOrder.status.in_(_OPEN))
        .order_by(Incident.opened_at)
    )
    return list((await session.execute(stmt)).scalars())


def _scope(i: Incident) -> tuple[str, str, datetime]:
    return (i.area_path, i.category_path, i.opened_at)


async def covering_incident(
    session: AsyncSession, tenant_id: uuid.UUID, area_path: str, category_path: str | None = None
) -> Incident | None:
    """The most specific open incident whose area (and, when given, category) subtree holds this complaint."""
    if not area_path:
        return None
    candidates = []
    for i in await open_incidents(session, tenant_id):
        if category_path is None:
            if path_under(area_path, i.area_path):
                candidates.append(i)
        elif covers(i.area_path, i.category_path, area_path, category_path):
            candidates.append(i)
    return most_specific(candidates, _scope)


async def do_open_incident(
    session: AsyncSession, actor: Actor, alert_id: uuid.UUID, *, how: str = "manual"
) -> Incident:
    """Open an incident from an alert: one master order, dispatched once, the open complaints linked to it."""
    require(actor, Permission.INCIDENTS_MANAGE)
    alert = await access_alert_by_id(session, actor, alert_id, for_update=True)
    if alert.status == "incident":
        raise Conflict("This alert already has an incident; work on that one.", code="incident-exists")
    if alert.status != "open":
        raise Conflict(
            "This alert is closed (no related complaint for the whole cool-down); a new burst raises a new alert.",
            code="alert-closed",
        )
    tenant_id = alert.tenant_id
    category = await _category_for(session, tenant_id, alert.category_path)
    if category is None:
        raise _invalid(
            f"No active complaint category {alert.category_path!r} (or above it) exists any more; "
            "the master order needs one.",
            "category",
        )
    acting = _acting(actor)
    now = context_of(session).now()
    master = await do_create_work_order(
        session,
        acting,
        title=incident_title(alert.area_path, alert.category_path),
        category_id=category.id,
        area_id=await _area_id(session, tenant_id, alert.area_path),
        description=incident_description(
            alert.area_path, alert.category_path, alert.count, alert.expected, alert.score
        ),
        priority=3,
        kind="incident",
        dispatch="auto",
    )
    incident = Incident(
        id=new_id(),
        tenant_id=tenant_id,
        alert_id=alert.id,
        master_order_id=master.id,
        area_path=alert.area_path,
        category_path=alert.category_path,
        department_id=master.department_id,
        status="open",
        opened_how=how,
        opened_by_id=actor.user_id,
        opened_by_name=actor.name[:100],
        opened_at=now,
        linked_orders=0,
        handoffs_saved=0,
        intercepted_calls=0,
        sms_sent=0,
        callbacks=0,
    )
    session.add(incident)
    await session.flush()
    alert.status = "incident"
    alert.incident_id = incident.id
    alert.updated_at = now
    linked, saved = await _link_open_complaints(session, acting, incident, master)
    incident.linked_orders, incident.handoffs_saved = linked, saved
    await session.flush()
    await audit.record(
        session,
        actor,
        "incident.opened",
        target_type="incident",
        target_id=incident.id,
        details={
            "alert_id": str(alert.id),
            "master": master.number,
            "area": alert.area_path,
            "category": alert.category_path,
            "how": how,
            "linked": linked,
        },
    )
    publish_later(session, tenant_id, "incident.opened", incident_summary(incident, master.number))
    publish_later(session, tenant_id, "alert.grow", alert_summary(alert))
    return incident


async def _link_open_complaints(
    session: AsyncSession, actor: Actor, incident: Incident, master: Any
) -> tuple[int, int]:
    """Link every open complaint of the incident's subtree to the master; (linked, hand-offs saved)."""
    area, category = incident.area_path, incident.category_path
    linked = saved = 0
    last: uuid.UUID | None = None
    while True:
        stmt = sa.select(WorkOrder).where(
            WorkOrder.tenant_id == incident.tenant_id,
            WorkOrder.kind == "complaint",
            WorkOrder.status.in_(_OPEN),
            WorkOrder.master_id.is_(None),
            WorkOrder.id != master.id,
            sa.or_(WorkOrder.area_path == area, WorkOrder.area_path.startswith(area + "/", autoescape=True)),
            sa.or_(
                WorkOrder.category_path == category,
                WorkOrder.category_path.startswith(category + "/", autoescape=True),
            ),
        )
        if last is not None:
            stmt = stmt.where(WorkOrder.id > last)
        batch = list((await session.execute(stmt.order_by(WorkOrder.id).limit(200))).scalars())
        for order in batch:
            never_dispatched = order.status == "accepted"
            try:
                await do_link_work_orders(session, actor, order.id, other_id=master.id, kind="incident")
            except Conflict:
                continue  # itself the master of a hand-made group: left alone
            linked += 1
            saved += int(never_dispatched)
        if len(batch) < 200:
            return linked, saved
        last = batch[-1].id


async def join_open_incident(session: AsyncSession, order: Any, *, dispatching: bool) -> bool:
    """Asked by the work-order dispatch path for a complaint about to be accepted or dispatched.

    True when an open incident covers it: the complaint is (now) a member of the incident's master and
    must not be dispatched on its own; when a dispatch was asked for, that hand-off saved is counted on
    the incident and noted on the order.
    """
    if order.kind != "complaint":
        return False
    tenant_id = order.tenant_id
    system = system_actor(tenant_id)
    if order.master_id is not None:
        members_of = [i for i in await open_incidents(session, tenant_id) if i.master_order_id == order.master_id]
        if not members_of:
            return False
        incident = members_of[0]
        joined_now = False
    else:
        incident = await covering_incident(session, tenant_id, order.area_path, order.category_path)
        if incident is None or incident.master_order_id == order.id:
            return False
        await do_link_work_orders(session, system, order.id, other_id=incident.master_order_id, kind="incident")
        joined_now = True
    if not (joined_now or dispatching):
        return True
    await _bump(session, incident, linked_orders=int(joined_now), handoffs_saved=int(dispatching))
    if dispatching:
        master = await session.get(WorkOrder, incident.master_order_id)
        await do_comment_work_order(
            session,
            system,
            order.id,
            text=f"并入群体故障主单 {master.number if master else ''}，不单独派单（节省一次转派）",
        )
    publish_later(
        session,
        tenant_id,
        "incident.linked",
        {"incident_id": str(incident.id), "order_id": str(order.id), "handoff_saved": dispatching},
    )
    return True


def incident_summary(i: Incident, master_number: str | None = None) -> dict[str, Any]:
    return {
        "id": str(i.id),
        "alert_id": str(i.alert_id),
        "master_order_id": str(i.master_order_id),
        "master_number": master_number,
        "area_path": i.area_path,
        "category_path": i.category_path,
        "status": i.status,
        "linked_orders": i.linked_orders,
        "handoffs_saved": i.handoffs_saved,
        "intercepted_calls": i.intercepted_calls,
    }


async def _close_master(
    session: AsyncSession, actor: Actor, master: Any, incident: Incident, resolution: str, note: str
) -> None:
    """Reply to the master order (its open members are replied with it), unless its department already did."""
    if master.status in ("replied", "follow_up", "archived"):
        return
    if master.status == "merged":
        raise Conflict("The master order was merged into another order; resolve that one instead.")
    if master.status == "accepted":  # returned by the department: it goes back to it
        await do_dispatch_work_order(session, actor, master.id, department_id=incident.department_id)
    if master.status == "dispatched":
        await do_take_work_order(session, actor, master.id)
    if master.status == "pending_customer":
        await do_resume_work_order(session, actor, master.id)
    await do_reply_work_order(session, actor, master.id, resolution=resolution, reply=note)


async def do_resolve_incident(
    session: AsyncSession, actor: Actor, incident_id: uuid.UUID, *, note: str, resolution: str = "resolved"
) -> Incident:
    """The fault is fixed: reply to the master, move the members to follow-up together, tell everyone."""
    require(actor, Permission.INCIDENTS_MANAGE)
    note = (note or "").strip()
    if not note:
        raise _invalid("Say what was done (the reply every customer of the incident gets).", "note")
    if resolution not in RESOLUTIONS:
        raise _invalid(f"Say how far the fault was fixed: {', '.join(RESOLUTIONS)}.", "resolution")
    incident = await access_incident_by_id(session, actor, incident_id, for_update=True)
    if incident.status != "open":
        raise Conflict("This incident is already resolved; its customers have been told.", code="incident-resolved")
    tenant = await get_tenant(session, incident.tenant_id)
    policy = AlertSettings.of(tenant.settings)
    ctx = context_of(session)
    now = ctx.now()
    acting = _acting(actor)
    master = await session.get(WorkOrder, incident.master_order_id)
    if master is None or master.tenant_id != incident.tenant_id:
        raise NotFound("The incident's master order is gone.")
    await _close_master(session, acting, master, incident, resolution, note)
    notifier = _Notifier(session, tenant, policy, incident, now)
    members = (
        (
            await session.execute(
                sa.select(WorkOrder)
                .where(
                    WorkOrder.tenant_id == incident.tenant_id,
                    WorkOrder.master_id == master.id,
                    WorkOrder.kind == "complaint",
                    WorkOrder.status == "replied",
                )
                .order_by(WorkOrder.id)
            )
        )
        .scalars()
        .all()
    )
    for member in members:
        channel, message_id = await notifier.member(member)
        await do_start_follow_up_notified(
            session, acting, member.id, channel=channel, sms_message_id=message_id, reason="群体故障已修复"
        )
    subscribers = (
        (
            await session.execute(
                sa.select(IncidentSubscriber)
                .where(
                    IncidentSubscriber.tenant_id == incident.tenant_id,
                    IncidentSubscriber.incident_id == incident.id,
                    IncidentSubscriber.notified_at.is_(None),
                )
                .order_by(IncidentSubscriber.created_at, IncidentSubscriber.id)
            )
        )
        .scalars()
        .all()
    )
    for subscriber in subscribers:
        await notifier.subscriber(subscriber)
    incident.status = "resolved"
    incident.resolved_at = now
    incident.resolved_by_id = actor.user_id
    incident.resolved_by_name = actor.name[:100]
    incident.resolution_note = note
    incident.sms_sent += notifier.sms
    incident.callbacks += len(notifier.callbacks)
    await session.flush()
    await audit.record(
        session,
        actor,
        "incident.resolved",
        target_type="incident",
        target_id=incident.id,
        details={
            "master": master.number,
            "members": len(members),
            "sms": notifier.sms,
            "callbacks": len(notifier.callbacks),
            "unreachable": notifier.unreachable,
            "subscribers": len(subscribers),
        },
    )
    if notifier.callbacks:
        tenant_id, notice_ids = incident.tenant_id, list(notifier.callbacks)
        after_commit(session, lambda: submit_callbacks(ctx, tenant_id, notice_ids))
    publish_later(session, incident.tenant_id, "incident.resolved", incident_summary(incident, master.number))
    return incident


class _Notifier:
    """One SMS per customer and number; a callback task for customers without a mobile number."""

    def __init__(self, session: AsyncSession, tenant: Any, policy: AlertSettings, incident: Incident, now: datetime):
        self.session = session
        self.tenant = tenant
        self.policy = policy
        self.incident = incident
        self.now = now
        self.crypto = context_of(session).pii(tenant)
        self.by_customer: dict[uuid.UUID, uuid.UUID] = {}
        self.numbers: set[str] = set()
        self.sms = 0
        self.callbacks: list[uuid.UUID] = []
        self.unreachable = 0
        self._queue: tuple[uuid.UUID | None] | None = None

    def _fields(self, number: str = "") -> dict[str, str]:
        return {
            "company": self.tenant.name[:20],
            "area": leaf(self.incident.area_path),
            "category": leaf(self.incident.category_path),
            "number": number,
        }

    async def _send(self, number: str, body: str, **kw: Any) -> Any:
        from kefu.messaging import queue_sms

        message = await queue_sms(
            self.session, tenant=self.tenant, to_number=number, body=body, purpose="incident_fixed", **kw
        )
        self.sms += 1
        self.numbers.add(self.crypto.phone_index(number))
        return message

    def _notice(self, **values: Any) -> IncidentNotice:
        row = IncidentNotice(
            id=new_id(),
            tenant_id=self.incident.tenant_id,
            incident_id=self.incident.id,
            created_at=self.now,
            updated_at=self.now,
            **values,
        )
        self.session.add(row)
        return row

    async def member(self, order: Any) -> tuple[str, uuid.UUID | None]:
        """Tell one member's customer; returns the follow-up channel and the SMS (if one was sent)."""
        from kefu.customers.actions import primary_phone

        customer_id = order.customer_id
        number = await primary_phone(self.session, self.tenant, customer_id) if customer_id else None
        if number and is_mobile(number):
            message_id = self.by_customer.get(customer_id) if customer_id else None
            if message_id is None:
                message = await self._send(
                    number,
                    fill(self.policy.fixed_sms, **self._fields(order.number)),
                    reference_type="work_order",
                    reference_id=order.id,
                    dedupe_key=f"incident-fixed:{self.incident.id}:{customer_id}",
                    expects_reply=True,
                )
                message_id = message.id
                if customer_id:
                    self.by_customer[customer_id] = message_id
            self._notice(
                order_id=order.id, customer_id=customer_id, channel="sms", status="queued", sms_message_id=message_id
            )
            return "sms", message_id
        if customer_id is None and order.source_call_id is None:
            self.unreachable += 1
            self._notice(order_id=order.id, customer_id=None, channel="none", status="no_contact")
            return "call", None
        queue_id = await self._callback_queue()
        notice = self._notice(
            order_id=order.id,
            customer_id=customer_id,
            channel="callback",
            status="pending" if queue_id else "no_queue",
            queue_id=queue_id,
            call_id=order.source_call_id,
        )
        notice.task_id = str(notice.id)
        if queue_id:
            self.callbacks.append(notice.id)
        return "call", None

    async def subscriber(self, s: IncidentSubscriber) -> None:
        s.notified_at = self.now
        if s.number_index in self.numbers:
            return  # told already, as the customer of a complaint
        number = self.crypto.open(s.number_enc, row_id=s.id, field="number")
        if not number:
            return
        message = await self._send(
            number,
            fill(self.policy.subscriber_sms, **self._fields()),
            reference_type="incident",
            reference_id=self.incident.id,
            dedupe_key=f"incident-fixed:{self.incident.id}:{s.number_index[:32]}",
        )
        s.sms_message_id = message.id
        self._notice(
            subscriber_id=s.id, customer_id=s.customer_id, channel="sms", status="queued", sms_message_id=message.id
        )

    async def _callback_queue(self) -> uuid.UUID | None:
        if self._queue is None:
            from kefu.routing.models import Queue

            stmt = sa.select(Queue.id).where(Queue.tenant_id == self.incident.tenant_id)
            if self.policy.callback_queue:
                stmt = stmt.where(Queue.name == self.policy.callback_queue)
            self._queue = ((await self.session.execute(stmt.order_by(Queue.name).limit(1))).scalar_one_or_none(),)
        return self._queue[0]


async def submit_callbacks(ctx: Any, tenant_id: uuid.UUID, notice_ids: Iterable[uuid.UUID] | None = None) -> int:
    """Put pending callback tasks into the router (after the resolving transaction committed).

    The task id is the notice id, so submitting again (the detector service retries what failed) never
    makes a second task. Returns how many tasks the router now has.
    """
    from kefu.core.db import bind_tenant
    from kefu.routing import DuplicateTask, QueueClosed, QueueFull, RoutingError, UnknownQueue
    from kefu.routing.host import host_of

    async with ctx.session_factory() as session:
        await bind_tenant(session, tenant_id)
        stmt = sa.select(IncidentNotice).where(
            IncidentNotice.tenant_id == tenant_id,
            IncidentNotice.channel == "callback",
            IncidentNotice.status == "pending",
        )
        if notice_ids is not None:
            stmt = stmt.where(IncidentNotice.id.in_(list(notice_ids)))
        notices = list((await session.execute(stmt.order_by(IncidentNotice.id).limit(200))).scalars())
        await session.commit()
    if not notices:
        return 0
    host = host_of(ctx)
    outcome: dict[uuid.UUID, str] = {}
    for n in notices:
        attributes: dict[str, Any] = {
            "reason": "incident_fixed",
            "incident_id": str(n.incident_id),
            "work_order_id": str(n.order_id) if n.order_id else "",
        }
        if n.call_id:
            attributes["call_id"] = str(n.call_id)
        task_id, queue_id = n.task_id or str(n.id), str(n.queue_id)
        try:
            await host.command(
                tenant_id,
                lambda r, t=task_id, q=queue_id, a=attributes: r.submit_task(
                    t, queue_id=q, kind="callback", channel="voice", priority=0, attributes=a
                ),
            )
            outcome[n.id] = "created"
        except DuplicateTask:
            outcome[n.id] = "created"
        except UnknownQueue:
            outcome[n.id] = "no_queue"
        except (QueueClosed, QueueFull) as exc:
            log.info("callback for incident %s waits: %s", n.incident_id, exc.message)
        except RoutingError as exc:
            log.warning("callback for incident %s not created: %s", n.incident_id, exc.message)
    if outcome:
        async with ctx.session_factory() as session:
            await bind_tenant(session, tenant_id)
            for status in set(outcome.values()):
                await session.execute(
                    sa.update(IncidentNotice)
                    .where(
                        IncidentNotice.tenant_id == tenant_id,
                        IncidentNotice.id.in_([k for k, v in outcome.items() if v == status]),
                    )
                    .values(status=status, updated_at=ctx.now())
                )
            await session.commit()
    return sum(1 for v in outcome.values() if v == "created")


# --------------------------------------------------------------------------- the IVR


async def customer_area(session: AsyncSession, tenant: Any, number: str) -> tuple[uuid.UUID | None, str]:
    """The customer owning this number and the path of their area ("" when unknown). No access record:
    an internal routing decision, nothing is shown to anyone."""
    from kefu.customers.models import Area, Customer
    from kefu.customers.queries import customer_id_by_phone

    customer_id = await customer_id_by_phone(session, tenant, number)
    if customer_id is None:
        return None, ""
    path = (
        await session.execute(
            sa.select(Area.path)
            .join(Customer, sa.and_(Customer.area_id == Area.id, Customer.tenant_id == Area.tenant_id))
            .where(Customer.tenant_id == tenant.id, Customer.id == customer_id)
        )
    ).scalar_one_or_none()
    return customer_id, path or ""


async def record_incident_call(
    session: AsyncSession, tenant: Any, *, number: str, call_id: uuid.UUID | None
) -> str | None:
    """The IVR told a caller that the fault in their area is known (``sms_incident_notice``).

    Subscribes the caller to the "fixed" SMS and records the call as an intercepted complaint (resolved
    at first contact, never dispatched) linked to the incident. Returns the text to say, or None when no
    open incident covers the caller's area. Calling again on the same call changes nothing.
    """
    customer_id, area = await customer_area(session, tenant, number)
    incident = await covering_incident(session, tenant.id, area) if area else None
    if incident is None:
        return None
    policy = AlertSettings.of(tenant.settings)
    ctx = context_of(session)
    crypto = ctx.pii(tenant)
    index = crypto.phone_index(number)
    system = system_actor(tenant.id)
    order_id = None
    if call_id is not None:
        order_id = (
            await session.execute(
                sa.select(WorkOrder.id).where(
                    WorkOrder.tenant_id == tenant.id,
                    WorkOrder.source_call_id == call_id,
                    WorkOrder.master_id == incident.master_order_id,
                )
            )
        ).scalar_one_or_none()
    if order_id is None:
        category = await _category_for(session, tenant.id, incident.category_path)
        if category is not None:
            order = await do_create_work_order(
                session,
                system,
                title=f"{leaf(incident.area_path)} {leaf(incident.category_path)} 故障来电（已告知）"[:200],
                category_id=category.id,
                customer_id=customer_id,
                caller=number,
                source_call_id=call_id,
                channel="phone",
                description="IVR 已告知已知故障并登记修复短信通知。",
                resolve_now={"resolution": "partly_resolved", "reply": policy.announcement},
            )
            await do_link_work_orders(session, system, order.id, other_id=incident.master_order_id, kind="incident")
            order_id = order.id
            await _bump(session, incident, linked_orders=1, intercepted_calls=1)
    subscribed = (
        await session.execute(
            sa.select(IncidentSubscriber.id).where(
                IncidentSubscriber.tenant_id == tenant.id,
                IncidentSubscriber.incident_id == incident.id,
                IncidentSubscriber.number_index == index,
            )
        )
    ).scalar_one_or_none()
    if subscribed is None:
        sub_id = new_id()
        session.add(
            IncidentSubscriber(
                id=sub_id,
                tenant_id=tenant.id,
                incident_id=incident.id,
                number_enc=crypto.seal(number, row_id=sub_id, field="number"),
                number_index=index,
                number_masked=mask_phone(number),
                call_id=call_id,
                customer_id=customer_id,
                order_id=order_id,
                created_at=ctx.now(),
            )
        )
    await session.flush()
    publish_later(session, tenant.id, "incident.subscribed", {"incident_id": str(incident.id)})
    return policy.announcement


def register_reply_handler() -> None:
    """Replies to the "fixed" SMS of an incident's members are their satisfaction follow-up answers."""
    from kefu.messaging import register_reply_handler as register
    from kefu.workorders import handle_follow_up_reply

    register("incident_fixed", handle_follow_up_reply)


register_reply_handler()


# --------------------------------------------------------------------------- settings


async def do_update_alert_settings(session: AsyncSession, actor: Actor, changes: dict[str, Any]) -> AlertSettings:
    """Change the tenant's early-warning policy (thresholds take effect at the detector's next run)."""
    require(actor, Permission.SETTINGS_MANAGE)
    assert actor.tenant_id is not None
    tenant = await get_tenant(session, actor.tenant_id)
    current = AlertSettings.of(tenant.settings).model_dump()
    nullable = {"auto_open_score", "callback_queue"}
    merged = {**current, **{k: v for k, v in changes.items() if v is not None or k in nullable}}
    try:
        settings = AlertSettings.model_validate(merged)
    except ValueError as exc:
        errors = getattr(exc, "errors", lambda: [])()
        message = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errors)
        raise InvalidInput(f"These early-warning settings are not valid: {message or exc}") from None
    await save_settings_section(session, actor, tenant, "alerts", settings.model_dump(), before=current)
    return settings


__all__ = [
    "alert_summary",
    "close_finished_alerts",
    "covering_incident",
    "customer_area",
    "do_open_incident",
    "do_resolve_incident",
    "do_update_alert_settings",
    "incident_summary",
    "join_open_incident",
    "open_incidents",
    "record_alert_updates",
    "record_incident_call",
    "submit_callbacks",
    "system_actor",
]
