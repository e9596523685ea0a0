"""The IVR with an open incident, on the simulated PBX: a caller from the compound hears that the fault is
known, presses 1 for the SMS when it is fixed, and the call is recorded as an intercepted complaint; a
caller from elsewhere goes on to the queue as usual."""

from __future__ import annotations

import sqlalchemy as sa

from alerts.alerts_support import COMPOUND, alerts_of, build_alert_org, complain, detect
from kefu.alerts.actions import do_open_incident
from kefu.alerts.demo import with_incident_notice
from kefu.alerts.models import Incident, IncidentSubscriber
from kefu.contacts.actions import do_add_number, do_assign_number, do_create_flow, do_update_number
from kefu.contacts.models import Call, CallEvent
from kefu.core.actor import Actor
from kefu.core.db import bind_tenant, commit
from kefu.routing.actions import do_create_queue
from kefu.telephony.simulated import SimulatedCaller
from kefu.workorders.models import WorkOrder

DID = "4008123456"
FLOW = {
    "start": "welcome",
    "nodes": {
        "welcome": {"type": "play", "prompt": {"text": "您好，欢迎致电。"}, "next": "agents"},
        "agents": {"type": "queue", "queue": "general"},
    },
}


async def _run(world, seconds: float) -> None:
    controller = world.ctx.services["call_controller"]
    clock = world.ctx.clock
    end = clock.now() + seconds
    await controller.settle()
    while clock.now() < end:
        clock.advance(min(0.5, end - clock.now()))
        await controller.settle()
    await controller.store.flush()


async def test_callers_from_the_affected_area_are_told_and_subscribed(world):
    a = await build_alert_org(world, history=20)
    t = a.t
    admin = world.admin_actor(t.id)
    async with world.session() as s:
        await do_assign_number(s, Actor.system("test"), number=DID, tenant_id=t.id, kind="400")
        await bind_tenant(s, t.id)
        await do_create_queue(s, admin, name="general", offer_timeout_s=20)
        number = await do_add_number(s, admin, number=DID, label="热线")
        flow = await do_create_flow(s, admin, name="main", definition=with_incident_notice(FLOW))
        await do_update_number(s, admin, number.id, {"flow_id": flow.flow_key})
        await commit(s)
    await detect(world)
    for i in range(3):
        await complain(world, a, f"r{i}")
    await detect(world)
    [alert] = await alerts_of(world, t)
    async with world.session() as s:
        await bind_tenant(s, t.id)
        incident = await do_open_incident(s, admin, alert.id)
        await commit(s)

    pbx = world.ctx.services["telephony"]
    pbx.place_call(
        SimulatedCaller(from_number="+8613910000006", to_number=DID, digits=("1",), talk_time=30.0, patience=60.0)
    )
    pbx.place_call(
        SimulatedCaller(from_number="+8613922220000", to_number=DID, digits=(), talk_time=30.0, patience=20.0)
    )
    await _run(world, 60)

    async with world.session() as s:
        await bind_tenant(s, t.id)
        calls = {c.number_masked: c for c in (await s.execute(sa.select(Call))).scalars()}
        subscribers = (await s.execute(sa.select(IncidentSubscriber))).scalars().all()
        orders = (
            (await s.execute(sa.select(WorkOrder).where(WorkOrder.master_id == incident.master_order_id)))
            .scalars()
            .all()
        )
        events = (
            await s.execute(sa.select(CallEvent.call_id, CallEvent.type, CallEvent.data).order_by(CallEvent.at))
        ).all()
        row = (await s.execute(sa.select(Incident))).scalar_one()
        await s.commit()
    told = calls["139****0006"]
    [sub] = subscribers
    assert sub.call_id == told.id and sub.number_masked == "139****0006"
    [intercepted] = [o for o in orders if o.intercepted]
    assert intercepted.source_call_id == told.id and intercepted.status == "archived"
    assert intercepted.area_path == COMPOUND and intercepted.department_id is None
    assert row.intercepted_calls == 1 and row.linked_orders == 4
    assert any(
        kind == "ivr.self_service" and (data or {}).get("action") == "sms_incident_notice"
        for call_id, kind, data in events
        if call_id == told.id
    )
    assert told.outcome == "self_service" and told.queue_id is None
    elsewhere = calls["139****0000"]
    assert elsewhere.queue_id is not None  # not in the area: on to the queue
    assert not any(call_id == elsewhere.id and kind == "ivr.self_service" for call_id, kind, _ in events)
