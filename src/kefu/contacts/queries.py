"""Reads of the contacts domain: call history, timelines, numbers, flows, the agent desktop's state."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.contacts.models import Call, CallEvent, IvrFlow, Recording, TenantNumber
from kefu.core.actor import Actor
from kefu.core.context import context_of
from kefu.tenancy import Permission


async def list_calls(
    session: AsyncSession,
    actor: Actor,
    *,
    before: uuid.UUID | None = None,
    limit: int = 50,
    direction: str | None = None,
    outcome: str | None = None,
    agent_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Call]:
    """Newest first (UUIDv7 ids are time-ordered); agents see only their own calls.

    ``since``/``until`` bound ``started_at`` (``until`` excluded)."""
    stmt = sa.select(Call).where(Call.tenant_id == actor.tenant_id)
    if not actor.can(Permission.CALLS_READ_ALL):
        stmt = stmt.where(Call.agent_id == actor.user_id)
    elif agent_id is not None:
        stmt = stmt.where(Call.agent_id == agent_id)
    if before is not None:
        stmt = stmt.where(Call.id < before)
    if direction:
        stmt = stmt.where(Call.direction == direction)
    if outcome:
        stmt = stmt.where(Call.outcome == outcome)
    if since is not None:
        stmt = stmt.where(Call.started_at >= since)
    if until is not None:
        stmt = stmt.where(Call.started_at < until)
    return list((await session.execute(stmt.order_by(Call.id.desc()).limit(limit + 1))).scalars())


async def call_events(session: AsyncSession, actor: Actor, call_id: uuid.UUID) -> list[CallEvent]:
    return list(
        (
            await session.execute(
                sa.select(CallEvent)
                .where(CallEvent.tenant_id == actor.tenant_id, CallEvent.call_id == call_id)
                .order_by(CallEvent.at, CallEvent.id)
            )
        ).scalars()
    )


@dataclass(frozen=True)
class CallView:
    """A call as its page shows it: the row, its timeline, its playable recording (if any) and the
    names of the queues and people it mentions."""

    call: Call
    events: list[CallEvent]
    recording: Recording | None
    queue_names: dict[uuid.UUID, str]
    people: dict[uuid.UUID, str]


async def call_view(session: AsyncSession, actor: Actor, call_id: uuid.UUID) -> CallView:
    """One call the actor may see (another agent's call or another tenant's is a 404)."""
    from kefu.contacts.access import access_call_by_id, kept_recording

    call = await access_call_by_id(session, actor, call_id)
    events = await call_events(session, actor, call.id)
    recording = await kept_recording(session, call)  # the one the recording API plays
    mentioned = {call.agent_id, *(e.agent_id for e in events)}
    for event in events:
        value = event.data.get("to_agent") if isinstance(event.data, dict) else None
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                mentioned.add(uuid.UUID(value))
    return CallView(
        call=call,
        events=events,
        recording=recording,
        queue_names=await queue_names(session, actor),
        people=await people_names(session, actor, [i for i in mentioned if i is not None]),
    )


async def queue_names(session: AsyncSession, actor: Actor) -> dict[uuid.UUID, str]:
    from kefu.routing.models import Queue

    rows = await session.execute(sa.select(Queue.id, Queue.name).where(Queue.tenant_id == actor.tenant_id))
    return {row.id: row.name for row in rows}


async def people_names(session: AsyncSession, actor: Actor, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Display names of this tenant's users among ``ids`` (one query)."""
    from kefu.tenancy.models import User

    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(
        sa.select(User.id, User.display_name).where(User.tenant_id == actor.tenant_id, User.id.in_(wanted))
    )
    return {row.id: row.display_name for row in rows}


async def agent_choices(session: AsyncSession, actor: Actor) -> list[tuple[uuid.UUID, str]]:
    """The people with an agent profile, by name (the agent filter of the call list)."""
    from kefu.routing.models import AgentProfile
    from kefu.tenancy.models import User

    rows = await session.execute(
        sa.select(User.id, User.display_name)
        .join(AgentProfile, sa.and_(AgentProfile.user_id == User.id, AgentProfile.tenant_id == User.tenant_id))
        .where(User.tenant_id == actor.tenant_id)
        .order_by(User.display_name)
    )
    return [(row.id, row.display_name) for row in rows]


async def recent_calls_of_number(
    session: AsyncSession, actor: Actor, number_index: str, *, exclude: uuid.UUID | None, limit: int = 5
) -> list[Call]:
    stmt = sa.select(Call).where(Call.tenant_id == actor.tenant_id, Call.number_index == number_index)
    if exclude is not None:
        stmt = stmt.where(Call.id != exclude)
    return list((await session.execute(stmt.order_by(Call.started_at.desc()).limit(limit))).scalars())


async def list_numbers(session: AsyncSession, actor: Actor) -> list[TenantNumber]:
    return list(
        (
            await session.execute(
                sa.select(TenantNumber).where(TenantNumber.tenant_id == actor.tenant_id).order_by(TenantNumber.number)
            )
        ).scalars()
    )


async def list_flows(session: AsyncSession, actor: Actor) -> list[IvrFlow]:
    return list(
        (
            await session.execute(
                sa.select(IvrFlow)
                .where(IvrFlow.tenant_id == actor.tenant_id, IvrFlow.is_current.is_(True))
                .order_by(IvrFlow.name)
            )
        ).scalars()
    )


async def flow_versions(session: AsyncSession, actor: Actor, flow_key: uuid.UUID) -> list[IvrFlow]:
    return list(
        (
            await session.execute(
                sa.select(IvrFlow)
                .where(IvrFlow.tenant_id == actor.tenant_id, IvrFlow.flow_key == flow_key)
                .order_by(IvrFlow.version.desc())
            )
        ).scalars()
    )


async def desktop_state(session: AsyncSession, actor: Actor) -> dict[str, Any]:
    """What an agent's desktop shows on load: their routing status and state, and their live calls.

    The desktop then follows ``agent:<user id>`` events; replaying those on
    top of this snapshot gives the same picture as a fresh snapshot.
    """
    from kefu.routing.host import tenant_router

    assert actor.tenant_id is not None
    if actor.user_id is None:  # a machine client has no desktop
        return {"agent_id": None, "routing": None, "current": None, "ringing": [], "at": None}
    agent = str(actor.user_id)
    hosted = await tenant_router(session, actor.tenant_id)
    router = hosted.router
    routing = router.agent_stats(agent).to_dict() if router.has_agent(agent) else None
    controller = context_of(session).services.get("call_controller")
    calls = (
        controller.agent_snapshot(actor.tenant_id, agent)
        if controller is not None
        else {"current": None, "ringing": []}
    )
    return {"agent_id": agent, "routing": routing, **calls, "at": router.clock.now()}


async def caller_number_for_agent(session: AsyncSession, actor: Actor, call_id: uuid.UUID) -> str | None:
    """The customer's full number of a call ringing for, or handled by, this agent (server side only:
    pages and the screen pop use it; it is never sent to the browser)."""
    from kefu.tenancy.models import Tenant

    controller = context_of(session).services.get("call_controller")
    live = controller.by_id.get(call_id) if controller is not None else None
    agent = str(actor.user_id) if actor.user_id else None
    if (
        live is not None
        and live.tenant.id == actor.tenant_id
        and agent is not None
        and (live.agent_id == agent or agent in live.offers)
    ):
        return live.number
    call = (
        await session.execute(
            sa.select(Call).where(Call.id == call_id, Call.tenant_id == actor.tenant_id, Call.agent_id == actor.user_id)
        )
    ).scalar_one_or_none()
    if call is None or call.number_enc is None:
        return None
    tenant = await session.get(Tenant, actor.tenant_id)
    return context_of(session).pii(tenant).open(call.number_enc, row_id=call.id, field="number")


async def screen_pop(session: AsyncSession, actor: Actor, call_id: uuid.UUID) -> dict[str, Any]:
    """Who is calling: the customer found by the calling number (masked), their open work orders and
    recent calls. Only for a call ringing for, or handled by, this agent; the lookup is logged with the
    call as its justification."""
    from kefu.core.errors import NotFound
    from kefu.customers import find_by_phone
    from kefu.tenancy.models import Tenant
    from kefu.workorders import open_orders_for_customer

    assert actor.tenant_id is not None
    number = await caller_number_for_agent(session, actor, call_id)
    if number is None:
        raise NotFound("No call of yours with this id.")
    customer = await find_by_phone(session, actor, number, justification_type="call", justification_id=call_id)
    orders = []
    if customer is not None:
        orders = [
            {"id": str(o.id), "number": o.number, "title": o.title, "status": o.status, "category": o.category_path}
            for o in await open_orders_for_customer(session, actor, customer.id)
        ]
    tenant = await session.get(Tenant, actor.tenant_id)
    index = context_of(session).pii(tenant).phone_index(number)
    recent = [
        {"id": str(c.id), "started_at": c.started_at.isoformat(), "outcome": c.outcome, "direction": c.direction}
        for c in await recent_calls_of_number(session, actor, index, exclude=call_id)
    ]
    return {
        "customer": customer.model_dump(mode="json") if customer is not None else None,
        "open_orders": orders,
        "recent_calls": recent,
    }


async def transfer_targets(session: AsyncSession, actor: Actor) -> dict[str, Any]:
    """What an agent may transfer to: queues with their waiting count and estimated wait, and agents with
    their status (no skills, no statistics beyond that)."""
    from kefu.routing.host import tenant_router
    from kefu.routing.models import AgentProfile, Queue
    from kefu.tenancy.models import User

    assert actor.tenant_id is not None
    queues = list(
        (
            await session.execute(sa.select(Queue).where(Queue.tenant_id == actor.tenant_id).order_by(Queue.name))
        ).scalars()
    )
    people = {
        str(u.id): u.display_name
        for u in (
            await session.execute(
                sa.select(User)
                .join(AgentProfile, AgentProfile.user_id == User.id)
                .where(User.tenant_id == actor.tenant_id, User.is_active.is_(True))
            )
        ).scalars()
    }
    router = (await tenant_router(session, actor.tenant_id)).router
    out_queues = []
    for q in queues:
        key = str(q.id)
        if router.has_queue(key):
            stats = router.queue_stats(key)
            out_queues.append({"id": key, "name": q.name, "waiting": stats.waiting, "ewt_s": stats.ewt_s})
    agents = []
    for agent_id, name in sorted(people.items(), key=lambda kv: kv[1]):
        if agent_id == str(actor.user_id) or not router.has_agent(agent_id):
            continue
        stats = router.agent_stats(agent_id)
        agents.append({"id": agent_id, "name": name, "status": stats.status, "state": stats.state})
    return {"queues": out_queues, "agents": agents}


async def waiting_callbacks(session: AsyncSession, actor: Actor, limit: int = 50) -> list[dict[str, Any]]:
    """Callbacks waiting in the queues this agent serves (or all queues for a supervisor), in routing order."""
    from kefu.routing.host import tenant_router

    assert actor.tenant_id is not None
    router = (await tenant_router(session, actor.tenant_id)).router
    agent = str(actor.user_id) if actor.user_id else None
    served = set(router.snapshot_agent_queues(agent)) if agent and router.has_agent(agent) else set(router.queue_ids())
    if actor.can(Permission.CALLS_READ_ALL):
        served = set(router.queue_ids())
    call_ids = []
    out = []
    for queue_id in sorted(served):
        for task in router.queue_tasks(queue_id, limit):
            if task["kind"] == "callback" and task["state"] != "assigned":
                out.append(
                    {
                        "task_id": task["id"],
                        "queue_id": queue_id,
                        "enqueued_at": task["enqueued_at"],
                        "call_id": task["attributes"].get("call_id"),
                        "state": task["state"],
                    }
                )
                call_ids.append(task["attributes"].get("call_id"))
    masked = {}
    ids = [uuid.UUID(c) for c in call_ids if c]
    if ids:
        masked = {
            str(c.id): c.number_masked
            for c in (
                await session.execute(sa.select(Call).where(Call.tenant_id == actor.tenant_id, Call.id.in_(ids)))
            ).scalars()
        }
    for item in out:
        item["number"] = masked.get(item["call_id"] or "", "")
    out.sort(key=lambda item: item["enqueued_at"])
    return out[:limit]
