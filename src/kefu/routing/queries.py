"""Reads of the routing domain: configuration and live statistics."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.core.actor import Actor
from kefu.routing.host import tenant_router
from kefu.routing.models import AgentProfile, Queue, RoutingPolicyRow, Skill
from kefu.tenancy.models import User


async def list_skills(session: AsyncSession, actor: Actor) -> list[Skill]:
    return list(
        (
            await session.execute(sa.select(Skill).where(Skill.tenant_id == actor.tenant_id).order_by(Skill.name))
        ).scalars()
    )


async def list_queues(session: AsyncSession, actor: Actor) -> list[Queue]:
    return list(
        (
            await session.execute(sa.select(Queue).where(Queue.tenant_id == actor.tenant_id).order_by(Queue.name))
        ).scalars()
    )


async def list_policies(session: AsyncSession, actor: Actor) -> list[RoutingPolicyRow]:
    return list(
        (
            await session.execute(
                sa.select(RoutingPolicyRow)
                .where(RoutingPolicyRow.tenant_id == actor.tenant_id)
                .order_by(RoutingPolicyRow.name)
            )
        ).scalars()
    )


async def agent_profile(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> AgentProfile | None:
    return (
        await session.execute(
            sa.select(AgentProfile).where(AgentProfile.tenant_id == actor.tenant_id, AgentProfile.user_id == user_id)
        )
    ).scalar_one_or_none()


async def live_statistics(session: AsyncSession, actor: Actor) -> dict[str, Any]:
    """Every queue's live figures and every agent's status and state, with names."""
    assert actor.tenant_id is not None
    names = {str(q.id): q.name for q in await list_queues(session, actor)}
    users = {
        str(u.id): u.display_name
        for u in (
            await session.execute(
                sa.select(User)
                .join(AgentProfile, AgentProfile.user_id == User.id)
                .where(User.tenant_id == actor.tenant_id)
            )
        ).scalars()
    }

    def read(router: Any) -> dict[str, Any]:
        queues = []
        for queue_id in router.queue_ids():
            stats = router.queue_stats(queue_id).to_dict()
            stats["name"] = names.get(queue_id, queue_id)
            queues.append(stats)
        agents = []
        for agent_id in router.agent_ids():
            stats = router.agent_stats(agent_id).to_dict()
            stats["name"] = users.get(agent_id, agent_id)
            agents.append(stats)
        by_state: dict[str, int] = {}
        for agent in agents:
            if agent["status"] != "offline":
                by_state[agent["state"]] = by_state.get(agent["state"], 0) + 1
        return {"at": router.clock.now(), "queues": queues, "agents": agents, "agents_by_state": by_state}

    hosted = await tenant_router(session, actor.tenant_id)
    return read(hosted.router)


async def queue_statistics(session: AsyncSession, actor: Actor, queue_id: uuid.UUID) -> dict[str, Any]:
    assert actor.tenant_id is not None
    key = str(queue_id)
    router = (await tenant_router(session, actor.tenant_id)).router
    return router.queue_stats(key).to_dict() if router.has_queue(key) else None


async def queue_tasks(session: AsyncSession, actor: Actor, queue_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
    """The queue's tasks in routing order, with their position and estimated wait."""
    assert actor.tenant_id is not None
    key = str(queue_id)
    router = (await tenant_router(session, actor.tenant_id)).router
    if not router.has_queue(key):
        return []
    tasks = router.queue_tasks(key, limit)
    for position, task in enumerate(tasks, start=1):
        task["position"] = position
        task["ewt_s"] = router.estimated_wait(task["id"]) if task["state"] != "assigned" else None
    return tasks
