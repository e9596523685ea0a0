"""Satisfaction follow-up (回访) after the reply: by SMS (through ``kefu.messaging``) or by a call.

The answer feeds the satisfaction KPI; "unsatisfied" reopens the order, any other answer (or no
answer) archives it. SMS replies arrive through the messaging domain's reply-handler registry
(purpose ``follow_up``).
"""

from __future__ import annotations

import importlib
import logging
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu import audit
from kefu.core.actor import Actor
from kefu.core.context import context_of
from kefu.core.errors import Conflict, InvalidInput
from kefu.core.ids import new_id
from kefu.tenancy.rules import Permission
from kefu.workorders.access import access_work_order_by_id
from kefu.workorders.actions import _note, _tenant, _transition, require
from kefu.workorders.models import FollowUp, WorkOrder
from kefu.workorders.rules import ANSWERS, FOLLOW_UP_SMS, UNSATISFIED, Status, parse_satisfaction

log = logging.getLogger("kefu.workorders")
PURPOSE = "follow_up"


def _messaging() -> Any | None:
    for name in ("kefu.messaging", "kefu.messaging.actions"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "queue_sms"):
            return module
    return None


async def _send_one(session: AsyncSession, actor: Actor, order: WorkOrder, channel: str) -> FollowUp:
    now = context_of(session).now()
    follow = FollowUp(
        id=new_id(),
        tenant_id=order.tenant_id,
        order_id=order.id,
        channel=channel,
        status="sent",
        sent_at=now,
        actor_id=actor.id,
    )
    if channel == "sms":
        messaging = _messaging()
        if messaging is None:
            raise Conflict("SMS is not available in this installation; follow up by call.", code="sms-unavailable")
        from kefu.customers.actions import primary_phone

        tenant = await _tenant(session, order.tenant_id)
        number = await primary_phone(session, tenant, order.customer_id) if order.customer_id else None
        if number is None:
            raise InvalidInput(
                f"Order {order.number} has no customer phone number to text; follow up by call.",
                errors=[{"field": "channel", "message": "no phone number"}],
            )
        message = await messaging.queue_sms(
            session,
            tenant=tenant,
            to_number=number,
            purpose=PURPOSE,
            reference_type="work_order",
            reference_id=order.id,
            dedupe_key=f"follow-up:{order.id}:{now:%Y%m%d%H%M%S}",
            expects_reply=True,
            body=FOLLOW_UP_SMS.format(company=tenant.name[:20], number=order.number),
        )
        follow.sms_message_id = message.id
    session.add(follow)
    await _transition(session, actor, order, "start_follow_up", details={"channel": channel})
    await _note(session, actor, order, "follow_up_sent", details={"channel": channel})
    return follow


async def do_start_follow_up(
    session: AsyncSession, actor: Actor, order_id: uuid.UUID, *, channel: str = "sms"
) -> WorkOrder:
    """Start the follow-up of a replied order (and of the members of an incident, together)."""
    require(actor, Permission.WORKORDERS_HANDLE)
    if channel not in ("sms", "call"):
        raise InvalidInput("Follow up by 'sms' or 'call'.", errors=[{"field": "channel", "message": "sms or call"}])
    order = await access_work_order_by_id(session, actor, order_id, for_update=True)
    if order.kind != "complaint":
        raise Conflict("Sub-orders are not followed up with the customer; the complaint is.")
    await _send_one(session, actor, order, channel)
    members = (
        (
            await session.execute(
                sa.select(WorkOrder)
                .where(
                    WorkOrder.tenant_id == order.tenant_id,
                    WorkOrder.master_id == order.id,
                    WorkOrder.status == Status.REPLIED.value,
                )
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    for member in members:
        await _send_one(session, actor, member, channel if member.customer_id or channel == "call" else "call")
    await session.flush()
    return order


async def do_record_follow_up(
    session: AsyncSession, actor: Actor, order_id: uuid.UUID, *, answer: str, note: str = "", raw: str | None = None
) -> WorkOrder:
    """Record the customer's answer: unsatisfied reopens the order, anything else archives it."""
    require(actor, Permission.WORKORDERS_HANDLE)
    if answer not in ANSWERS:
        raise InvalidInput(
            f"The answer is one of {', '.join(ANSWERS)}.", errors=[{"field": "answer", "message": "unknown answer"}]
        )
    order = await access_work_order_by_id(session, actor, order_id, for_update=True)
    if order.status != Status.FOLLOW_UP:
        raise Conflict(
            f"Order {order.number} is {order.status.replace('_', ' ')}, not waiting for a follow-up answer.",
            code="illegal-transition",
        )
    ctx = context_of(session)
    follow = (
        await session.execute(
            sa.select(FollowUp)
            .where(FollowUp.tenant_id == order.tenant_id, FollowUp.order_id == order.id, FollowUp.status == "sent")
            .order_by(FollowUp.sent_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if follow is None:
        follow = FollowUp(
            id=new_id(),
            tenant_id=order.tenant_id,
            order_id=order.id,
            channel="call",
            sent_at=ctx.now(),
            status="sent",
            actor_id=actor.id,
        )
        session.add(follow)
    follow.status = "no_answer" if answer == "no_answer" else "answered"
    follow.answered_at = ctx.now()
    follow.answer = None if answer == "no_answer" else answer
    follow.note = (note or raw or "")[:500]
    if answer != "no_answer":
        order.satisfaction = answer
    await _note(session, actor, order, "follow_up_answer", details={"answer": answer, "channel": follow.channel})
    if answer in UNSATISFIED:
        await _transition(session, actor, order, "reopen", reason="回访不满意 / customer unsatisfied at follow-up")
        await audit.record(
            session,
            actor,
            "work_order.reopened",
            target_type="work_order",
            target_id=order.id,
            details={"number": order.number, "why": "unsatisfied"},
        )
    else:
        await _transition(session, actor, order, "archive")
    await session.flush()
    return order


async def handle_follow_up_reply(session: AsyncSession, tenant: Any, inbound: Any, original: Any) -> None:
    """Reply handler for SMS purpose ``follow_up`` (registered with ``kefu.messaging``)."""
    if getattr(original, "reference_type", None) != "work_order" or not original.reference_id:
        return
    answer = parse_satisfaction(inbound.body)
    system = Actor.system("sms-follow-up", tenant.id, frozenset(Permission))
    order_id = uuid.UUID(str(original.reference_id))
    if answer is None:
        order = await access_work_order_by_id(session, system, order_id)
        await _note(session, system, order, "comment", reason=f"回访短信回复无法识别：{inbound.body[:200]}")
        await session.flush()
        return
    order = await access_work_order_by_id(session, system, order_id)
    if order.status != Status.FOLLOW_UP:
        return  # answered already (a second reply) or handled by a call
    await do_record_follow_up(session, system, order_id, answer=answer, raw=inbound.body)


def register_follow_up_handler() -> bool:
    """Hook the SMS reply handler into the messaging domain, if it is installed."""
    messaging = _messaging()
    if messaging is None or not hasattr(messaging, "register_reply_handler"):
        return False
    try:
        messaging.register_reply_handler(PURPOSE, handle_follow_up_reply)
    except ValueError:
        log.debug("follow-up reply handler already registered")
    return True
