"""A group complaint headed off, end to end on a real database (SQLite and PostgreSQL):

residents of one compound complain about indoor signal → one alert that grows (never fires twice) → a
supervisor opens an incident: ONE master order dispatched ONCE to the network department, the open
complaints linked → a new complaint from the compound joins the incident instead of being dispatched (a
hand-off saved), one from elsewhere is dispatched as usual → the IVR knows the caller's area, subscribes
them and records the call as intercepted → resolving moves every member to follow-up together, texts each
customer and subscriber once, and puts a callback task in the queue for the customer without a mobile.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from alerts.alerts_support import (
    CALLBACK_QUEUE,
    COMPOUND,
    OTHER,
    SIGNAL,
    SPEED,
    alerts_of,
    build_alert_org,
    complain,
    detect,
    incident_of,
)
from kefu.alerts.call_hooks import incident_in_area, sms_incident_notice
from kefu.alerts.models import AlertUpdateRecord, IncidentNotice, IncidentSubscriber
from kefu.alerts.policy import DEFAULT_ANNOUNCEMENT
from kefu.contacts.hooks import CONDITION_PROVIDERS, SELF_SERVICE_ACTIONS, CallContext
from kefu.core.db import bind_tenant
from kefu.messaging import SmsMessage
from kefu.routing.host import host_of
from kefu.workorders.models import FollowUp, WorkOrder, WorkOrderEvent

API = "/api/v1/t/acme"


async def _rows(world, t, stmt):
    async with world.session() as s:
        await bind_tenant(s, t.id)
        rows = (await s.execute(stmt)).all()
        await s.commit()
    return rows


async def _order(world, t, order_id) -> WorkOrder:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        row = (await s.execute(sa.select(WorkOrder).where(WorkOrder.id == order_id))).scalar_one()
        await s.commit()
    return row


async def _dispatches(world, t, order_id) -> list[WorkOrderEvent]:
    rows = await _rows(
        world,
        t,
        sa.select(WorkOrderEvent).where(
            WorkOrderEvent.order_id == order_id, WorkOrderEvent.action.in_(["dispatch", "transfer"])
        ),
    )
    return [r[0] for r in rows]


def _call(t, number: str) -> CallContext:
    return CallContext(t.id, uuid.uuid4(), number, "4008123456")


async def test_a_burst_in_one_compound_becomes_one_incident_and_is_headed_off(world):
    a = await build_alert_org(world)
    t = a.t
    network = a.org.departments["网络部"]
    await world.user(t, "banzhang", ["supervisor"])
    sup = await world.login(t, "banzhang")
    hub = world.ctx.services["hub"]
    subscription, _, _ = hub.subscribe(t.id, ["alerts"])

    # --- the baseline is learnt, nothing fires on history
    result = await detect(world)
    assert result.events == 30 and result.updates == 0
    assert await alerts_of(world, t) == []

    # --- residents complain, a few minutes apart: two are dispatched at once, the others wait for review
    first = [await complain(world, a, f"r{i}", dispatch=i < 2) for i in range(2)]
    await detect(world)
    assert await alerts_of(world, t) == []  # two complaints are not a cluster
    first.append(await complain(world, a, "r2"))
    await detect(world)
    [alert] = await alerts_of(world, t)
    assert (alert.area_path, alert.category_path, alert.status) == (COMPOUND, SIGNAL, "open")
    assert alert.count == 3 and alert.expected < 1 and alert.score >= 5
    first.append(await complain(world, a, "r3"))
    await detect(world)
    [grown] = await alerts_of(world, t)  # it grew, it did not fire again
    assert grown.id == alert.id and grown.count == 4 and grown.last_seen_at > alert.last_seen_at
    points = await _rows(
        world,
        t,
        sa.select(AlertUpdateRecord.kind, AlertUpdateRecord.count)
        .where(AlertUpdateRecord.alert_id == alert.id)
        .order_by(AlertUpdateRecord.at),
    )
    assert [tuple(p) for p in points] == [("new", 3), ("grow", 4)]
    published = [subscription.queue.get_nowait() for _ in range(subscription.queue.qsize())]
    assert [m.type for m in published] == ["alert.new", "alert.grow"]
    assert published[0].data["id"] == str(alert.id)

    r = await sup.get(f"{API}/alerts/{alert.id}")
    assert r.status_code == 200
    assert [p["count"] for p in r.json()["timeline"]] == [3, 4]

    # --- the supervisor opens the incident: one master order, dispatched once, complaints linked
    r = await sup.post(f"{API}/alerts/{alert.id}/incident")
    assert r.status_code == 201, r.text
    incident = r.json()
    assert incident["status"] == "open" and incident["department_id"] == str(network)
    assert incident["linked_orders"] == 4
    assert incident["handoffs_saved"] == 2  # the two never dispatched will not be
    master = await _order(world, t, uuid.UUID(incident["master_order_id"]))
    assert master.kind == "incident" and master.status == "dispatched" and master.department_id == network
    assert master.title == "科技园小区 室内无信号 群体故障"
    assert len(await _dispatches(world, t, master.id)) == 1
    masters = await _rows(world, t, sa.select(WorkOrder.id).where(WorkOrder.kind == "incident"))
    assert len(masters) == 1
    for order in first:
        assert (await _order(world, t, order.id)).master_id == master.id
    [opened] = await alerts_of(world, t)
    assert opened.status == "incident" and str(opened.incident_id) == incident["id"]

    # --- a new complaint from the compound joins the incident instead of being dispatched
    r = await sup.post(
        f"{API}/work-orders",
        json={
            "title": "室内没信号",
            "category_id": str(a.org.categories[SIGNAL]),
            "customer_id": str(a.residents["r4"]),
            "dispatch": "auto",
        },
    )
    assert r.status_code == 201, r.text
    joined = r.json()
    assert joined["master_id"] == str(master.id) and joined["status"] == "accepted"
    assert joined["department_id"] is None
    assert await _dispatches(world, t, uuid.UUID(joined["id"])) == []
    # … so does one under another leaf of the same category? no: the incident covers 室内无信号 only
    speed = await complain(world, a, "r5", category=SPEED, dispatch=True)
    assert (await _order(world, t, speed.id)).master_id is None
    assert len(await _dispatches(world, t, speed.id)) == 1
    # … and a complaint from another area is dispatched as usual
    far = await complain(world, a, "far", dispatch=True)
    far_row = await _order(world, t, far.id)
    assert far_row.master_id is None and far_row.status == "dispatched" and far_row.department_id == network
    assert far_row.area_path == OTHER
    # … an accepted member dispatched later by the rules stays with its incident (one more hand-off saved)
    r = await sup.post(f"{API}/work-orders/{first[2].id}/dispatch", json={})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted" and r.json()["master_id"] == str(master.id)
    inc = await incident_of(world, t, uuid.UUID(incident["id"]))
    assert (inc.linked_orders, inc.handoffs_saved) == (5, 4)

    # --- the IVR: true for a caller from the compound, false otherwise; nothing leaves but a yes/no
    assert CONDITION_PROVIDERS["incident_in_area"] is incident_in_area
    assert SELF_SERVICE_ACTIONS["sms_incident_notice"] is sms_incident_notice
    assert await incident_in_area(world.ctx, _call(t, "+8613910000006")) is True
    assert await incident_in_area(world.ctx, _call(t, "+8613922220000")) is False  # customer elsewhere
    assert await incident_in_area(world.ctx, _call(t, "+8613900001111")) is False  # customer without area
    assert await incident_in_area(world.ctx, _call(t, "+8613700000000")) is False  # not a customer
    call = _call(t, "+8613910000006")
    assert await sms_incident_notice(world.ctx, call) == DEFAULT_ANNOUNCEMENT
    assert await sms_incident_notice(world.ctx, call) == DEFAULT_ANNOUNCEMENT  # the same call again: no change
    assert await sms_incident_notice(world.ctx, _call(t, "+8613922220000")) is None
    [sub] = [r[0] for r in await _rows(world, t, sa.select(IncidentSubscriber))]
    assert sub.number_masked == "139****0006" and "13910000006" not in sub.number_enc
    intercepted = await _order(world, t, sub.order_id)
    assert intercepted.intercepted and intercepted.status == "archived" and intercepted.master_id == master.id
    assert intercepted.source_call_id == call.call_id and intercepted.department_id is None
    inc = await incident_of(world, t, inc.id)
    assert (inc.linked_orders, inc.intercepted_calls) == (6, 1)

    # a customer with only a landline complains too: they will get a callback
    landline = await complain(world, a, "landline")
    assert (await _order(world, t, landline.id)).master_id == master.id

    # --- resolve: master replied and archived, members to follow-up together, everyone told once
    r = await sup.get(f"{API}/incidents/{inc.id}")
    members_before = r.json()["member_count"]
    assert members_before == 7
    r = await sup.post(f"{API}/incidents/{inc.id}/resolve", json={"note": "室分系统故障已修复，信号恢复。"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "resolved" and body["master_status"] == "archived"
    members = {m["id"]: m for m in body["members"]}
    open_members = [o.id for o in first] + [uuid.UUID(joined["id"]), landline.id]
    for order_id in open_members:
        assert members[str(order_id)]["status"] == "follow_up"
    assert members[str(intercepted.id)]["status"] == "archived"
    assert body["subscribers"][0]["number"] == "139****0006" and body["subscribers"][0]["notified_at"]
    sms = [r[0] for r in await _rows(world, t, sa.select(SmsMessage).where(SmsMessage.purpose == "incident_fixed"))]
    # one per linked customer with a mobile (r0–r4) and one for the subscriber (r6)
    assert len(sms) == 6
    assert sorted(m.to_number_masked for m in sms) == sorted([f"139****000{i}" for i in range(5)] + ["139****0006"])
    assert sum(1 for m in sms if m.expects_reply) == 5  # the members' SMS is their satisfaction follow-up
    follow_ups = [r[0] for r in await _rows(world, t, sa.select(FollowUp))]
    assert len(follow_ups) == 6 and {f.channel for f in follow_ups} == {"sms", "call"}
    [callback] = [
        r[0] for r in await _rows(world, t, sa.select(IncidentNotice).where(IncidentNotice.channel == "callback"))
    ]
    assert callback.order_id == landline.id and callback.queue_id == a.queue_id and callback.status == "created"
    info = await host_of(world.ctx).read(t.id, lambda r: r.task_info(callback.task_id))
    assert info["kind"] == "callback" and info["queue_id"] == str(a.queue_id)
    assert info["attributes"]["work_order_id"] == str(landline.id)
    assert body["sms_sent"] == 6 and body["callbacks"] == 1
    assert CALLBACK_QUEUE
