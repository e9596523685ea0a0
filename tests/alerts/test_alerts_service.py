"""The detector service over ``complaint_events``: restart safety (snapshot + cursor in one transaction),
batches, thresholds per tenant (a change rebuilds the detector), the auto-open policy."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from alerts.alerts_support import (
    COMPOUND,
    SIGNAL,
    alerts_of,
    build_alert_org,
    complain,
    detect,
    set_policy,
)
from kefu.alerts.detector import Detector
from kefu.alerts.jobs import forget_detectors, run_once, unpack
from kefu.alerts.models import AlertUpdateRecord, DetectorState, Incident
from kefu.alerts.rules import split_path
from kefu.bootstrap import build_context, dispose_context
from kefu.core.db import bind_tenant
from kefu.workorders.models import ComplaintEvent, WorkOrder


async def _state(ctx, t) -> DetectorState:
    async with ctx.session_factory() as s:
        await bind_tenant(s, t.id)
        row = (await s.execute(sa.select(DetectorState).where(DetectorState.tenant_id == t.id))).scalar_one()
        await s.commit()
    return row


async def _timeline(world, t) -> list[tuple[str, int]]:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        rows = (
            await s.execute(sa.select(AlertUpdateRecord.kind, AlertUpdateRecord.count).order_by(AlertUpdateRecord.at))
        ).all()
        await s.commit()
    return [tuple(r) for r in rows]


async def _reference(world, t, now) -> Detector:
    """A detector fed every complaint event in one go, the way the service feeds them."""
    from kefu.alerts.policy import AlertSettings
    from kefu.tenancy.models import Tenant

    async with world.session() as s:
        await bind_tenant(s, t.id)
        tenant = await s.get(Tenant, t.id)
        policy = AlertSettings.of(tenant.settings)
        rows = (
            await s.execute(
                sa.select(ComplaintEvent.occurred_at, ComplaintEvent.area_path, ComplaintEvent.category_path)
                .where(ComplaintEvent.tenant_id == t.id)
                .order_by(ComplaintEvent.id)
            )
        ).all()
        await s.commit()
    det = Detector(policy.detector_config(tenant.timezone))
    for at, area, category in rows:
        if at < now - timedelta(hours=policy.learn_older_than_hours):
            det.learn([(at.timestamp(), split_path(area), split_path(category))])
        else:
            det.observe(at.timestamp(), split_path(area), split_path(category))
    return det


async def test_a_restart_neither_loses_nor_double_counts(world, settings, clock):
    a = await build_alert_org(world, history=25)
    t = a.t
    first = await detect(world)
    assert first.events == 25
    for i in range(3):
        await complain(world, a, f"r{i}")
    assert (await detect(world)).events == 3
    [alert] = await alerts_of(world, t)
    assert alert.count == 3
    state = await _state(world.ctx, t)
    assert state.events_read == 28 and state.version >= 2

    # the same process forgets its detectors (a restart): it restores from the snapshot, reads nothing again
    forget_detectors(world.ctx)
    again = await detect(world)
    assert again.events == 0 and again.updates == 0
    assert (await _state(world.ctx, t)).version == state.version

    # a second process (its own context, same database) carries on after the cursor
    await complain(world, a, "r3")
    other = build_context(settings, clock=clock)
    try:
        result = await run_once(other)
        assert result.events == 1 and result.updates == 1 and result.new_alerts == 0
        # … and the first process, whose cached detector is now stale, restores instead of re-reading
        assert (await detect(world)).events == 0
    finally:
        await dispose_context(other)
    [grown] = await alerts_of(world, t)
    assert grown.id == alert.id and grown.count == 4
    assert await _timeline(world, t) == [("new", 3), ("grow", 4)]
    state = await _state(world.ctx, t)
    assert state.events_read == 29

    # the stored detector is exactly the one that saw every complaint once, in order
    stored = unpack(state.snapshot)
    reference = await _reference(world, t, world.ctx.now())
    assert stored.events_seen == reference.events_seen == 29
    [mine] = stored.open_alerts()
    [theirs] = reference.open_alerts()
    assert mine == theirs
    assert stored.snapshot() == reference.snapshot()


async def test_small_batches_and_the_settle_lag(world):
    a = await build_alert_org(world, history=23)
    t = a.t
    assert (await run_once(world.ctx, settle=3600)).events == 0  # everything is younger than an hour
    result = await run_once(world.ctx, batch=5)
    assert result.events == 23
    assert (await _state(world.ctx, t)).events_read == 23
    for i in range(3):
        await complain(world, a, f"r{i}")
    assert (await run_once(world.ctx, batch=2)).new_alerts == 1


async def test_changing_the_thresholds_rebuilds_the_detector(world):
    a = await build_alert_org(world, history=25)
    t = a.t
    await detect(world)
    for i in range(3):
        await complain(world, a, f"r{i}")
    await detect(world)
    [alert] = await alerts_of(world, t)
    assert alert.status == "open" and (await _state(world.ctx, t)).generation == 1

    await set_policy(world, t, {"detector": {"threshold": 50.0, "min_count": 10}})
    result = await detect(world)
    assert result.closed_alerts == 1
    state = await _state(world.ctx, t)
    assert state.generation == 2
    assert unpack(state.snapshot).config.threshold == 50.0
    [closed] = await alerts_of(world, t)
    assert closed.status == "closed"
    await complain(world, a, "r3")
    await detect(world)
    assert len(await alerts_of(world, t)) == 1  # far below the new threshold: no alert
    # the relearnt baseline kept the complaints it had read
    assert unpack((await _state(world.ctx, t)).snapshot).events_seen >= 25


async def test_the_policy_can_open_incidents_by_itself(world):
    a = await build_alert_org(world, history=25)
    t = a.t
    await set_policy(world, t, {"auto_open_score": 5.0})
    await detect(world)
    for i in range(3):
        await complain(world, a, f"r{i}", dispatch=i == 0)
    result = await detect(world)
    assert result.new_alerts == 1 and result.incidents_opened == 1
    async with world.session() as s:
        await bind_tenant(s, t.id)
        incident = (await s.execute(sa.select(Incident))).scalar_one()
        master = await s.get(WorkOrder, incident.master_order_id)
        await s.commit()
    assert incident.opened_how == "auto" and incident.opened_by_id is None
    assert (incident.area_path, incident.category_path) == (COMPOUND, SIGNAL)
    assert master.kind == "incident" and master.status == "dispatched"
    assert incident.linked_orders == 3 and incident.handoffs_saved == 2
    [alert] = await alerts_of(world, t)
    assert alert.status == "incident"
    assert (await detect(world)).incidents_opened == 0  # never twice


async def test_a_tenant_can_switch_early_warning_off(world):
    a = await build_alert_org(world, history=10)
    await set_policy(world, a.t, {"enabled": False})
    assert (await detect(world)).events == 0
    await set_policy(world, a.t, {"enabled": True})
    assert (await detect(world)).events == 10
