"""Routing set-up helpers shared by the routing API tests and the isolation tests."""

from __future__ import annotations

import uuid

from kefu.core.db import bind_tenant, commit
from kefu.routing.actions import do_create_policy, do_create_queue, do_create_skill, do_set_agent_profile
from kefu.routing.host import host_of
from support import TenantInfo, World


async def make_skill(world: World, t: TenantInfo, name: str | None = None) -> uuid.UUID:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        skill = await do_create_skill(s, world.admin_actor(t.id), name=name or f"s{uuid.uuid4().hex[:8]}")
        await commit(s)
    return skill.id


async def make_queue(world: World, t: TenantInfo, name: str | None = None, **settings) -> uuid.UUID:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        queue = await do_create_queue(s, world.admin_actor(t.id), name=name or f"q{uuid.uuid4().hex[:8]}", **settings)
        await commit(s)
    return queue.id


async def make_policy(world: World, t: TenantInfo) -> uuid.UUID:
    queue_id = await make_queue(world, t)
    async with world.session() as s:
        await bind_tenant(s, t.id)
        policy = await do_create_policy(
            s, world.admin_actor(t.id), name=f"p{uuid.uuid4().hex[:8]}", steps=[{"queue_id": queue_id}]
        )
        await commit(s)
    return policy.id


async def make_agent(world: World, t: TenantInfo, username: str, skills: dict[str, int] | None = None) -> uuid.UUID:
    user = await world.user(t, username, ["agent"])
    async with world.session() as s:
        await bind_tenant(s, t.id)
        await do_set_agent_profile(s, world.admin_actor(t.id), user.id, skills=skills or {}, capacity={"voice": 1})
        await commit(s)
    return user.id


async def make_task(world: World, t: TenantInfo) -> uuid.UUID:
    queue_id = await make_queue(world, t)
    task_id = uuid.uuid4()
    await host_of(world.ctx).command(t.id, lambda r: r.submit_task(str(task_id), queue_id=str(queue_id)))
    return task_id


ROUTING_FACTORIES = {
    "skill_id": make_skill,
    "queue_id": make_queue,
    "policy_id": make_policy,
    "task_id": make_task,
}
