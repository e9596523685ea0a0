"""Reads of the contacts domain: call history, timelines, numbers, flows, the agent desktop's state."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.contacts.models import Call, CallEvent, IvrFlow, TenantNumber
from kefu.core.actor import Actor
from kefu.core.context import context_of
from kefu.tenancy import Permission


async def list_calls(session: AsyncSession, actor: Actor, *, before: uuid.UUID | None = None, limit: int = 50,
                     direction: str | None = None, outcome: str | None = None, agent_id: uuid.UUID | None = None,
                     since: datetime | None = None) -> list[Call]:
    """Newest first (UUIDv7 ids are time-ordered); agents see only their own calls."""
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
    return list((await session.execute(stmt.order_by(Call.id.desc()).limit(limit + 1))).scalars())


async def call_events(session: AsyncSession, actor: Actor, call_id: uuid.UUID) -> list[CallEvent]:
    return list((await session.execute(sa.select(CallEvent).where(
        CallEvent.tenant_id == actor.tenant_id, CallEvent.call_id == call_id).order_by(CallEvent.at, CallEvent.id)
    )).scalars())


async def recent_calls_of_number(session: AsyncSession, actor: Actor, number_index: str, *, exclude: uuid.UUID | None,
                                 limit: int = 5) -> list[Call]:
    stmt = sa.select(Call).where(Call.tenant_id == actor.tenant_id, Call.number_index == number_index)
    if exclude is not None:
        stmt = stmt.where(Call.id != exclude)
    return list((await session.execute(stmt.order_by(Call.started_at.desc()).limit(limit))).scalars())


async def list_numbers(session: AsyncSession, actor: Actor) -> list[TenantNumber]:
    return list((await session.execute(sa.select(TenantNumber).where(TenantNumber.tenant_id == actor.tenant_id)
                                       .order_by(TenantNumber.number))).scalars())


async def list_flows(session: AsyncSession, actor: Actor) -> list[IvrFlow]:
    return list((await session.execute(sa.select(IvrFlow).where(
        IvrFlow.tenant_id == actor.tenant_id, IvrFlow.is_current.is_(True)).order_by(IvrFlow.name))).scalars())


async def flow_versions(session: AsyncSession, actor: Actor, flow_key: uuid.UUID) -> list[IvrFlow]:
    return list((await session.execute(sa.select(IvrFlow).where(
        IvrFlow.tenant_id == actor.tenant_id, IvrFlow.flow_key == flow_key).order_by(IvrFlow.version.desc())
    )).scalars())


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
    calls = controller.agent_snapshot(actor.tenant_id, agent) if controller is not None else {"current": None,
                                                                                            "ringing": []}
    return {"agent_id": agent, "routing": routing, **calls, "at": router.clock.now()}
