"""The demo seed step of early warning: policy, baseline, the IVR snippet; idempotent; a live burst."""

from __future__ import annotations

import sqlalchemy as sa

from alerts.alerts_support import CALLBACK_QUEUE, alerts_of, build_alert_org, detect
from kefu.alerts.demo import BURST_AREA, BURST_CATEGORY, seed, seed_burst, with_incident_notice
from kefu.contacts.actions import do_create_flow
from kefu.contacts.models import IvrFlow
from kefu.contacts.rules import default_flow
from kefu.core.db import bind_tenant, commit
from kefu.ivr.rules import validate_flow
from kefu.tenancy.models import Tenant
from kefu.workorders.models import ComplaintEvent


async def _flows(world, t):
    async with world.session() as s:
        await bind_tenant(s, t.id)
        rows = (await s.execute(sa.select(IvrFlow).order_by(IvrFlow.version))).scalars().all()
        await s.commit()
    return rows


async def test_the_demo_seed_step_is_idempotent_and_tells_callers_about_incidents(world):
    a = await build_alert_org(world, history=0)
    t = a.t
    async with world.session() as s:
        await bind_tenant(s, t.id)
        tenant = await s.get(Tenant, t.id)
        tenant.settings = {k: v for k, v in (tenant.settings or {}).items() if k != "alerts"}
        await do_create_flow(s, world.admin_actor(t.id), name="热线", definition=default_flow(CALLBACK_QUEUE))
        await commit(s)

    await seed(world.ctx, t.id)
    async with world.session() as s:
        await bind_tenant(s, t.id)
        tenant = await s.get(Tenant, t.id)
        events = (await s.execute(sa.select(sa.func.count()).select_from(ComplaintEvent))).scalar_one()
        await s.commit()
    assert "alerts" in tenant.settings and tenant.settings["alerts"]["auto_open_score"] is None
    assert events == 50
    flows = await _flows(world, t)
    assert [f.version for f in flows] == [1, 2]
    current = flows[-1].definition
    assert current["start"] == "incident_check"
    assert current["nodes"]["incident_check"]["else"] == "welcome"
    assert current["nodes"]["incident_notice"]["action"] == "sms_incident_notice"
    validate_flow(current, [CALLBACK_QUEUE])

    before = await world.digest([t.id])
    await seed(world.ctx, t.id)
    assert await world.digest([t.id]) == before
    assert with_incident_notice(current) is None

    # the live part of a demonstration: a burst in one compound, picked up by the detector service
    await detect(world)
    await seed_burst(world.ctx, t.id)
    await detect(world)
    [alert] = await alerts_of(world, t)
    assert (alert.area_path, alert.category_path) == (BURST_AREA, BURST_CATEGORY)


async def test_the_demo_plays_a_group_complaint_and_not_a_second_while_it_is_open(world, monkeypatch):
    import asyncio

    from kefu.alerts import demo

    a = await build_alert_org(world, history=0)
    await seed(world.ctx, a.t.id)
    await detect(world)
    monkeypatch.setattr(demo, "DEMO_FIRST_BURST_S", 0.01)
    monkeypatch.setattr(demo, "DEMO_BURST_EVERY_S", 3600.0)
    demo_settings = world.ctx.settings.model_copy(update={"demo_call_center": True, "demo_tenant": a.t.slug})
    monkeypatch.setattr(world.ctx, "settings", demo_settings)

    async def complaints() -> int:
        async with world.session() as s:
            await bind_tenant(s, a.t.id)
            n = (await s.execute(sa.select(sa.func.count()).select_from(ComplaintEvent))).scalar_one()
            await s.commit()
        return n

    async def play_once() -> None:
        stop = asyncio.Event()
        before = await complaints()
        task = asyncio.create_task(demo.run_demo_group_complaints(world.ctx, stop))
        for _ in range(100):  # until this pass has looked (and burst, if it had to)
            await asyncio.sleep(0.02)
            if await complaints() != before:
                break
        stop.set()
        await task

    baseline = await complaints()
    await play_once()
    assert await complaints() == baseline + 5
    await detect(world)
    [alert] = await alerts_of(world, a.t)
    assert alert.area_path == BURST_AREA and alert.status == "open"
    await play_once()  # the alert is open: no second burst on top of it
    assert await complaints() == baseline + 5
