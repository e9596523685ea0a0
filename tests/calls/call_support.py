"""A small call center for call tests: a tenant with a number, a queue, agents and the simulated PBX."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from kefu.contacts.actions import do_add_number, do_assign_number, do_create_flow, do_update_number
from kefu.contacts.controller import agent_endpoint
from kefu.core.actor import Actor
from kefu.core.db import bind_tenant, commit
from kefu.routing.actions import do_create_queue, do_set_agent_profile
from kefu.routing.host import host_of
from kefu.telephony.simulated import AgentBehaviour, SimulatedCaller
from support import TenantInfo, World

DID = "4008123456"


@dataclass
class CallCenter:
    world: World
    tenant: TenantInfo
    queue_id: uuid.UUID
    agents: dict[str, uuid.UUID]

    @property
    def pbx(self) -> Any:
        return self.world.ctx.services["telephony"]

    @property
    def controller(self) -> Any:
        return self.world.ctx.services["call_controller"]

    @property
    def router(self) -> Any:
        return host_of(self.world.ctx).loaded(self.tenant.id).router

    async def run(self, seconds: float, step: float = 0.5) -> None:
        """Let virtual time pass, handling every event on the way."""
        clock = self.world.ctx.clock
        end = clock.now() + seconds
        await self.controller.settle()
        while clock.now() < end:
            clock.advance(min(step, end - clock.now()))
            await self.controller.settle()

    async def stored(self) -> None:
        await self.controller.settle()
        await self.controller.store.flush()
        await host_of(self.world.ctx).flush_all()

    def call(self, **kw: Any) -> str:
        caller = SimulatedCaller(**{"from_number": "+8613812345678", "to_number": DID, "talk_time": 30.0,
                                    "patience": 120.0, **kw})
        return self.pbx.place_call(caller)

    async def available(self, username: str) -> None:
        client = await self.world.login(self.tenant, username)
        r = await client.post(f"/api/v1/t/{self.tenant.slug}/routing/agents/{self.agents[username]}/status",
                              json={"status": "available"})
        assert r.status_code == 200, r.text


async def build_call_center(world: World, *, agents: dict[str, AgentBehaviour | None] | None = None,
                            flow: dict | None = None, queue: dict | None = None) -> CallCenter:
    t = await world.tenant("acme")
    admin = world.admin_actor(t.id)
    async with world.session() as s:
        await do_assign_number(s, Actor.system("test"), number=DID, tenant_id=t.id, kind="400")
        await bind_tenant(s, t.id)
        q = await do_create_queue(s, admin, name="general", **(queue or {"offer_timeout_s": 20}))
        await commit(s)
    ids: dict[str, uuid.UUID] = {}
    for name, behaviour in (agents or {"agent1": None}).items():
        user = await world.user(t, name, ["agent"], display_name=name)
        ids[name] = user.id
        async with world.session() as s:
            await bind_tenant(s, t.id)
            await do_set_agent_profile(s, admin, user.id, skills={}, capacity={"voice": 1})
            await commit(s)
        world.ctx.services["telephony"].register_device(agent_endpoint(user.id), behaviour)
    async with world.session() as s:
        await bind_tenant(s, t.id)
        number = await do_add_number(s, admin, number=DID, label="热线")
        if flow is not None:
            created = await do_create_flow(s, admin, name="main", definition=flow)
            await do_update_number(s, admin, number.id, {"flow_id": created.flow_key})
        await commit(s)
    return CallCenter(world, t, q.id, ids)


async def make_call(world: World, t: TenantInfo) -> uuid.UUID:
    """A stored (ended) call of the tenant."""
    from kefu.contacts.models import Call
    from kefu.core.ids import new_id

    call_id = new_id()
    async with world.session() as s:
        await bind_tenant(s, t.id)
        s.add(Call(id=call_id, tenant_id=t.id, pbx_call_id=uuid.uuid4().hex, direction="inbound", number_enc=None,
                   number_masked="138****0000", tenant_number="4000000000", state="ended", outcome="answered",
                   started_at=world.ctx.now()))
        await commit(s)
    return call_id


async def make_number(world: World, t: TenantInfo) -> uuid.UUID:
    number = f"+86400{uuid.uuid4().int % 10**7:07d}"
    async with world.session() as s:
        await do_assign_number(s, Actor.system("test"), number=number, tenant_id=t.id, kind="400")
        await bind_tenant(s, t.id)
        row = await do_add_number(s, world.admin_actor(t.id), number=number)
        await commit(s)
    return row.id


async def make_flow(world: World, t: TenantInfo) -> uuid.UUID:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        row = await do_create_flow(s, world.admin_actor(t.id), name=f"f{uuid.uuid4().hex[:8]}",
                                   definition={"start": "bye", "nodes": {"bye": {"type": "hangup"}}})
        await commit(s)
    return row.flow_key


CALL_FACTORIES = {"call_id": make_call, "number_id": make_number, "flow_id": make_flow}
