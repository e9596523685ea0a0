"""Builders for early-warning tests: a telecom organisation with customers in one compound, a baseline of
past complaints, a callback queue, and helpers to create complaints and run the detector service."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from kefu.alerts.actions import do_open_incident, do_update_alert_settings
from kefu.alerts.jobs import run_once
from kefu.alerts.models import Alert, Incident
from kefu.core.db import bind_tenant, commit
from kefu.customers.actions import do_create_customer, ensure_area_path
from kefu.workorders.actions import do_create_work_order, ensure_category_path
from routing_api.routing_support import make_queue
from support import TenantInfo, World
from workorders.wo_support import Org, build_org

COMPOUND = "广东省/深圳市/南山区/科技园小区"
OTHER = "广东省/广州市/天河区/珠江新城"
SIGNAL = "网络质量/信号覆盖/室内无信号"
SPEED = "网络质量/上网速度/网速慢"
BILLING = "收费争议/增值业务/不知情定制"
BASELINE_AREAS = [COMPOUND, OTHER, "广东省/深圳市/南山区/蛇口花园", "广东省/深圳市/福田区/香蜜湖小区"]
CALLBACK_QUEUE = "回访外呼"


@dataclass
class AlertOrg:
    org: Org
    #: customers of the compound with a mobile number, by name
    residents: dict[str, uuid.UUID] = field(default_factory=dict)
    phones: dict[str, str] = field(default_factory=dict)
    queue_id: uuid.UUID | None = None

    @property
    def t(self) -> TenantInfo:
        return self.org.t


async def build_alert_org(world: World, slug: str = "acme", *, residents: int = 8, history: int = 30) -> AlertOrg:
    """An organisation (``wo_support.build_org``) plus residents of the compound, a landline-only resident,
    a resident elsewhere, a callback queue, the tenant's alerts policy and ``history`` past complaints."""
    org = await build_org(world, slug)
    a = AlertOrg(org)
    actor = world.admin_actor(org.t.id)
    async with world.session() as s:
        await bind_tenant(s, org.t.id)
        for path in BASELINE_AREAS:
            org.areas[path] = (await ensure_area_path(s, actor, path)).id
        for path in (SIGNAL, SPEED, BILLING):
            org.categories.setdefault(path, (await ensure_category_path(s, actor, path)).id)
        for i in range(residents):
            phone = f"1391000{i:04d}"
            c = await do_create_customer(
                s, actor, name=f"住户{i}", phones=[phone], area_id=org.areas[COMPOUND], credit_rating="A", star_level=3
            )
            a.residents[f"r{i}"] = c.id
            a.phones[f"r{i}"] = phone
        landline = await do_create_customer(
            s, actor, name="座机用户", phones=["010-62345678"], area_id=org.areas[COMPOUND], credit_rating="A"
        )
        a.residents["landline"] = landline.id
        a.phones["landline"] = "01062345678"
        far = await do_create_customer(s, actor, name="外区用户", phones=["13922220000"], area_id=org.areas[OTHER])
        a.residents["far"] = far.id
        a.phones["far"] = "13922220000"
        await commit(s)
    a.queue_id = await make_queue(world, org.t, CALLBACK_QUEUE)
    await set_policy(world, org.t, {"callback_queue": CALLBACK_QUEUE})
    if history:
        await add_history(world, a, history)
    return a


async def set_policy(world: World, t: TenantInfo, changes: dict[str, Any]) -> None:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        await do_update_alert_settings(s, world.admin_actor(t.id), changes)
        await commit(s)


async def add_history(world: World, a: AlertOrg, count: int, days: int = 12) -> None:
    """Past complaints spread over areas and categories: the detector's baseline (learnt, never alerted on)."""
    rng = random.Random(7)
    now = world.ctx.now()
    moments = sorted(now - timedelta(days=rng.uniform(2, days)) for _ in range(count))
    async with world.session() as s:
        await bind_tenant(s, a.t.id)
        for when in moments:
            await do_create_work_order(
                s,
                world.admin_actor(a.t.id),
                title="历史投诉",
                category_id=a.org.categories[rng.choice([SIGNAL, SPEED, BILLING])],
                area_id=a.org.areas[rng.choice(BASELINE_AREAS)],
                created_at=when,
                resolve_now={"resolution": "resolved", "reply": "已处理"},  # history: closed long ago
            )
        await commit(s)


async def complain(
    world: World, a: AlertOrg, who: str, *, category: str = SIGNAL, dispatch: bool = False, advance: float = 300.0
) -> Any:
    """One complaint by a resident (their customer record gives the area), ``advance`` seconds later."""
    world.ctx.clock.advance(advance)
    async with world.session() as s:
        await bind_tenant(s, a.t.id)
        order = await do_create_work_order(
            s,
            world.admin_actor(a.t.id),
            title="信号差",
            category_id=a.org.categories[category],
            customer_id=a.residents[who],
            caller=a.phones[who],
            dispatch="auto" if dispatch else None,
        )
        await commit(s)
    return order


async def detect(world: World) -> Any:
    return await run_once(world.ctx)


async def alerts_of(world: World, t: TenantInfo) -> list[Alert]:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        rows = list((await s.execute(sa.select(Alert).where(Alert.tenant_id == t.id).order_by(Alert.id))).scalars())
        await s.commit()
    return rows


# ------------------------------------------------------------------ id factories for tests/test_isolation.py


async def make_alert(world: World, t: TenantInfo) -> uuid.UUID:
    """An open alert in tenant ``t`` (stored the way the detector service stores one)."""
    from kefu.alerts.actions import record_alert_updates
    from kefu.alerts.detector import AlertUpdate

    actor = world.admin_actor(t.id)
    now = world.ctx.now().timestamp()
    area = f"省/市/区/小区{uuid.uuid4().hex[:6]}"
    async with world.session() as s:
        await bind_tenant(s, t.id)
        await ensure_area_path(s, actor, area)
        await ensure_category_path(s, actor, "网络质量/信号覆盖")
        update = AlertUpdate(
            f"al{uuid.uuid4().hex[:8]}",
            "new",
            tuple(area.split("/")),
            ("网络质量", "信号覆盖"),
            now - 900,
            now,
            now,
            3,
            0.05,
            6.5,
            1800.0,
        )
        await record_alert_updates(s, t.id, 1, [update], world.ctx.now())
        row = (
            await s.execute(sa.select(Alert).where(Alert.tenant_id == t.id, Alert.detector_id == update.alert_id))
        ).scalar_one()
        await commit(s)
    return row.id


async def make_incident(world: World, t: TenantInfo) -> uuid.UUID:
    """An open incident (its master order dispatched to a fallback department)."""
    from kefu.tenancy.actions import do_create_department
    from kefu.workorders.actions import do_update_config

    alert_id = await make_alert(world, t)
    actor = world.admin_actor(t.id)
    async with world.session() as s:
        await bind_tenant(s, t.id)
        dep = await do_create_department(s, actor, name=f"网络-{uuid.uuid4().hex[:6]}")
        await do_update_config(s, actor, {"fallback_department_id": dep.id})
        incident = await do_open_incident(s, actor, alert_id)
        await commit(s)
    return incident.id


async def incident_of(world: World, t: TenantInfo, incident_id: uuid.UUID) -> Incident:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        row = (await s.execute(sa.select(Incident).where(Incident.id == incident_id))).scalar_one()
        await s.commit()
    return row


ALERT_FACTORIES = {"alert_id": make_alert, "incident_id": make_incident}
