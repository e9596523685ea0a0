"""Demo seed for early warning: the demo tenant's alerts policy, a baseline of past complaints if it has
none (the work-order seed normally gives it 240), and the IVR snippet that tells callers from an area with
an open incident that the fault is known and offers the SMS when it is fixed. Idempotent and fast: each
step checks first and does nothing the second time. :func:`seed_burst` plays a group complaint live."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from kefu.core.db import bind_tenant, commit
from kefu.demo import seed_admin

BURST_AREA = "广东省/深圳市/南山区/蛇口花园"
BURST_CATEGORY = "网络质量/信号覆盖/信号不稳定"
BASELINE_MIN = 50
#: Replaces the flow's start: callers from an area with an open incident hear it first.
INCIDENT_NODES = {
    "incident_check": {"type": "condition", "attribute": "incident_in_area", "then": "incident_menu", "else": None},
    "incident_menu": {
        "type": "menu",
        "prompt": {"text": "您所在区域的网络故障我们已经知晓，正在抢修。需要修复后短信通知请按1，办理其他业务请按2。"},
        "options": {"1": "incident_notice", "2": None},
        "timeout": 5,
        "retries": 1,
        "no_input": None,
    },
    "incident_notice": {"type": "self_service", "action": "sms_incident_notice", "next": "incident_bye"},
    "incident_bye": {"type": "hangup", "prompt": {"text": "感谢您的耐心等待，再见。"}},
}


def with_incident_notice(definition: dict[str, Any]) -> dict[str, Any] | None:
    """The flow with the incident snippet in front of its start (None if it has one already)."""
    nodes = definition.get("nodes", {})
    if any(n.get("attribute") == "incident_in_area" for n in nodes.values()):
        return None
    start = definition["start"]
    added = {name: {**node} for name, node in INCIDENT_NODES.items()}
    added["incident_check"]["else"] = start
    added["incident_menu"]["options"] = {"1": "incident_notice", "2": start}
    added["incident_menu"]["no_input"] = start
    return {**definition, "start": "incident_check", "nodes": {**nodes, **added}}


async def seed(ctx: Any, tenant_id: Any) -> None:
    from kefu.alerts.actions import do_update_alert_settings
    from kefu.alerts.models import Alert, DetectorState
    from kefu.tenancy.models import Tenant
    from kefu.workorders.models import ComplaintEvent

    actor = seed_admin(tenant_id)
    async with ctx.session_factory() as session:
        await bind_tenant(session, tenant_id)
        tenant = await session.get(Tenant, tenant_id)
        if tenant is None:
            return
        if "alerts" not in (tenant.settings or {}):
            from kefu.routing.models import Queue

            queues = set((await session.execute(sa.select(Queue.name).where(Queue.tenant_id == tenant_id))).scalars())
            await do_update_alert_settings(
                session, actor, {"callback_queue": "投诉" if "投诉" in queues else None, "auto_open_score": None}
            )
        some = sa.select(ComplaintEvent.id).where(ComplaintEvent.tenant_id == tenant_id).limit(BASELINE_MIN)
        events = (await session.execute(sa.select(sa.func.count()).select_from(some.subquery()))).scalar_one()
        started = (
            await session.execute(sa.select(DetectorState.id).where(DetectorState.tenant_id == tenant_id))
        ).first() or (await session.execute(sa.select(Alert.id).where(Alert.tenant_id == tenant_id).limit(1))).first()
        await commit(session)
    if events < BASELINE_MIN and not started:
        await _complaints(ctx, tenant_id, baseline=BASELINE_MIN - events)
    await _ivr(ctx, tenant_id)


async def seed_burst(ctx: Any, tenant_id: Any, complaints: int = 4) -> None:
    """A group complaint for a live demonstration: residents of one compound complain about unstable signal
    over the last half hour; the detector service raises the alert at its next tick."""
    await _complaints(ctx, tenant_id, burst=complaints)


async def _complaints(ctx: Any, tenant_id: Any, *, baseline: int = 0, burst: int = 0) -> None:
    """Past complaints spread over the demo's compounds (closed at first contact), or a burst in one compound
    over the last half hour from its residents."""
    from kefu.customers.actions import ensure_area_path
    from kefu.customers.models import Area, Customer
    from kefu.workorders.actions import do_create_work_order, ensure_category_path
    from kefu.workorders.models import Category

    rng = random.Random(11)
    actor = seed_admin(tenant_id)
    now = ctx.now()
    async with ctx.session_factory() as session:
        await bind_tenant(session, tenant_id)
        if baseline:
            areas = list(
                (
                    await session.execute(sa.select(Area.id).where(Area.tenant_id == tenant_id, Area.level >= 4))
                ).scalars()
            ) or [(await ensure_area_path(session, actor, BURST_AREA)).id]
            leaves = list(
                (
                    await session.execute(
                        sa.select(Category.id).where(Category.tenant_id == tenant_id, Category.level == 3)
                    )
                ).scalars()
            ) or [(await ensure_category_path(session, actor, BURST_CATEGORY)).id]
            for _ in range(baseline):
                await do_create_work_order(
                    session,
                    actor,
                    title="历史投诉",
                    category_id=rng.choice(leaves),
                    area_id=rng.choice(areas),
                    created_at=now - timedelta(days=rng.uniform(2, 30)),
                    resolve_now={"resolution": "resolved", "reply": "已当场解释并处理。"},
                )
        if burst:
            area = await ensure_area_path(session, actor, BURST_AREA)
            category = await ensure_category_path(session, actor, BURST_CATEGORY)
            residents = list(
                (
                    await session.execute(
                        sa.select(Customer.id).where(Customer.tenant_id == tenant_id, Customer.area_id == area.id)
                    )
                ).scalars()
            )
            for i in range(burst):
                await do_create_work_order(
                    session,
                    actor,
                    title="小区信号时有时无",
                    category_id=category.id,
                    customer_id=residents[i] if i < len(residents) else None,
                    area_id=area.id,
                    description="客户来电反映家中手机信号时有时无，通话经常中断。",
                    created_at=now - timedelta(minutes=8 * (burst - i)),
                )
        await commit(session)


async def _ivr(ctx: Any, tenant_id: Any) -> None:
    """Put the incident snippet in front of the demo hotline's flow (a new flow version, once)."""
    from kefu.contacts.actions import do_save_flow_version
    from kefu.contacts.models import IvrFlow
    from kefu.core.errors import KefuError

    async with ctx.session_factory() as session:
        await bind_tenant(session, tenant_id)
        flows = (
            (
                await session.execute(
                    sa.select(IvrFlow).where(IvrFlow.tenant_id == tenant_id, IvrFlow.is_current.is_(True))
                )
            )
            .scalars()
            .all()
        )
        for flow in flows:
            definition = with_incident_notice(flow.definition)
            if definition is None:
                continue
            try:
                await do_save_flow_version(
                    session, seed_admin(tenant_id), flow.flow_key, name=flow.name, definition=definition
                )
            except KefuError:
                continue  # a flow the snippet does not fit stays as it is
        await commit(session)


#: Seconds after the demo starts before residents of one compound begin to complain, then between bursts.
DEMO_FIRST_BURST_S = 90.0
DEMO_BURST_EVERY_S = 1800.0


async def run_demo_group_complaints(ctx: Any, stop: Any) -> None:
    """Background service of ``kefu demo``: a group complaint a minute and a half after start (and again every
    half hour while none is open), so the supervisor sees an alert rise on the board and can open the incident."""
    import asyncio
    import contextlib

    from kefu.alerts.models import Alert
    from kefu.tenancy.models import Tenant

    settings = ctx.settings
    if not settings.demo_call_center:
        return
    wait = DEMO_FIRST_BURST_S
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)
        if stop.is_set():
            return
        wait = DEMO_BURST_EVERY_S
        async with ctx.session_factory() as session:
            tenant = (
                await session.execute(sa.select(Tenant).where(Tenant.slug == settings.demo_tenant))
            ).scalar_one_or_none()
            if tenant is None:
                return
            await bind_tenant(session, tenant.id)
            open_here = (
                await session.execute(
                    sa.select(Alert.id)
                    .where(Alert.tenant_id == tenant.id, Alert.status != "closed", Alert.area_path == BURST_AREA)
                    .limit(1)
                )
            ).scalar_one_or_none()
            await commit(session)
        if open_here is None:
            await seed_burst(ctx, tenant.id, complaints=5)
