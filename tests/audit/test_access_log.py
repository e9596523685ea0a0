"""The access log: per-actor hash chains of reads of customer data."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from kefu import audit
from kefu.audit.models import AccessLogEntry
from kefu.core.actor import Actor, ActorKind
from kefu.core.db import bind_tenant


async def test_accesses_are_recorded_and_chained_per_actor(world):
    t = await world.tenant("acme")
    agent = await world.user(t, "agent1", ["agent"])
    actor = Actor(ActorKind.USER, t.id, agent.id, "agent1", ip="10.0.0.7")
    other = Actor(ActorKind.USER, t.id, t.admin.id, "admin", ip="10.0.0.8")
    async with world.session() as s:
        await bind_tenant(s, t.id)
        for i in range(3):
            await audit.record_access(
                s,
                actor,
                "view",
                resource_type="customer",
                resource_id=f"c{i}",
                justification_type="call",
                justification_id="call-1",
            )
        await audit.record_access(
            s,
            other,
            "reveal",
            resource_type="customer",
            resource_id="c1",
            reason="customer asked to confirm the number",
            details={"fields": ["phone"]},
        )
        await s.commit()
    async with world.session() as s:
        await bind_tenant(s, t.id)
        rows = list((await s.execute(sa.select(AccessLogEntry).order_by(AccessLogEntry.id))).scalars())
        reports = await audit.verify_access_chains(s, t.id, "acme")
    assert [(r.actor_name, r.seq) for r in rows] == [("agent1", 1), ("agent1", 2), ("agent1", 3), ("admin", 1)]
    assert rows[0].justification_type == "call" and rows[0].ip == "10.0.0.7"
    assert rows[3].reason and rows[3].details == {"fields": ["phone"]}
    assert len(reports) == 2 and all(r.ok for r in reports)


async def test_access_log_is_append_only(world):
    t = await world.tenant("acme")
    actor = Actor(ActorKind.USER, t.id, t.admin.id, "admin")
    async with world.session() as s:
        await bind_tenant(s, t.id)
        await audit.record_access(s, actor, "view", resource_type="customer", resource_id="c1", reason="test")
        await s.commit()
    async with world.session() as s:
        await bind_tenant(s, t.id)
        with pytest.raises(sa.exc.DBAPIError):
            await s.execute(sa.delete(AccessLogEntry))
        await s.rollback()


async def test_unknown_access_actions_are_refused(world):
    t = await world.tenant("acme")
    async with world.session() as s:
        await bind_tenant(s, t.id)
        with pytest.raises(ValueError, match="unknown access action"):
            await audit.record_access(
                s, Actor(ActorKind.USER, t.id, t.admin.id, "admin"), "peek", resource_type="customer"
            )
