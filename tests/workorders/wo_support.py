"""Builders for work-order tests: a small telecom organisation with categories, departments, rules, SLA."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kefu.core.actor import Actor, ActorKind
from kefu.core.db import bind_tenant
from kefu.customers.actions import do_create_customer, ensure_area_path
from kefu.tenancy.actions import do_create_department
from kefu.tenancy.rules import Permission
from kefu.workorders.actions import (
    do_add_attachment,
    do_create_work_order,
    do_save_calendar,
    do_save_dispatch_rule,
    do_save_sla_policy,
    ensure_category_path,
)
from kefu.workorders.refunds import do_request_refund, do_save_authority_policy
from support import TenantInfo, World

WEEKDAYS = {d: [["09:00", "12:00"], ["13:30", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def actor_for(
    t: TenantInfo,
    user: Any = None,
    *,
    department_id: uuid.UUID | None = None,
    permissions: frozenset[str] | None = None,
    name: str = "tester",
) -> Actor:
    return Actor(
        ActorKind.USER if user else ActorKind.SYSTEM,
        t.id,
        user.id if user else None,
        user.username if user else name,
        permissions or frozenset(Permission),
        roles=("tenant_admin",),
        department_id=department_id or (user.department_id if user else None),
    )


@dataclass
class Org:
    t: TenantInfo
    departments: dict[str, uuid.UUID] = field(default_factory=dict)
    categories: dict[str, uuid.UUID] = field(default_factory=dict)
    areas: dict[str, uuid.UUID] = field(default_factory=dict)
    customers: dict[str, uuid.UUID] = field(default_factory=dict)
    calendar_id: uuid.UUID | None = None
    policies: dict[str, uuid.UUID] = field(default_factory=dict)


CATEGORIES = [
    "网络质量/信号覆盖/室内无信号",
    "网络质量/上网速度/网速慢",
    "收费争议/增值业务/不知情定制",
    "收费争议/套餐资费/套餐不符",
    "用户服务/服务态度/营业厅",
]


async def build_org(world: World, slug: str = "acme", *, sla: bool = True, rules: bool = True) -> Org:
    t = await world.tenant(slug)
    org = Org(t)
    actor = world.admin_actor(t.id)
    async with world.session() as s:
        await bind_tenant(s, t.id)
        for name in ("网络部", "计费部", "市场部", "投诉处理中心"):
            dep = await do_create_department(s, actor, name=name)
            org.departments[name] = dep.id
        for path in CATEGORIES:
            cat = await ensure_category_path(s, actor, path)
            org.categories[path] = cat.id
            for depth in range(1, 3):
                sub = "/".join(path.split("/")[:depth])
                org.categories.setdefault(sub, (await ensure_category_path(s, actor, sub)).id)
        for path in ("广东省/深圳市/南山区/科技园小区", "广东省/广州市/天河区/珠江新城"):
            area = await ensure_area_path(s, actor, path)
            org.areas[path] = area.id
            org.areas.setdefault("广东省/深圳市", (await ensure_area_path(s, actor, "广东省/深圳市")).id)
        customer = await do_create_customer(
            s,
            actor,
            name="张伟",
            phones=["13812341234"],
            id_number="110101199003071234",
            address="广东省深圳市南山区科技园1号",
            area_id=org.areas["广东省/深圳市/南山区/科技园小区"],
            plan="畅享 128",
            star_level=5,
            credit_rating="AA",
            vip=False,
            customer_since=datetime(2018, 3, 1, tzinfo=UTC),
        )
        org.customers["zhang"] = customer.id
        low = await do_create_customer(
            s,
            actor,
            name="李娜",
            phones=["13900001111"],
            credit_rating="C",
            star_level=1,
            customer_since=datetime(2025, 1, 1, tzinfo=UTC),
        )
        org.customers["li"] = low.id
        if rules:
            await do_save_dispatch_rule(
                s,
                actor,
                department_id=org.departments["网络部"],
                category_id=org.categories["网络质量"],
                position=10,
                name="网络",
            )
            await do_save_dispatch_rule(
                s,
                actor,
                department_id=org.departments["计费部"],
                category_id=org.categories["收费争议"],
                position=20,
                name="计费",
            )
            from kefu.workorders.actions import do_update_config

            await do_update_config(
                s,
                actor,
                {
                    "fallback_department_id": org.departments["投诉处理中心"],
                    "verification_department_id": org.departments["计费部"],
                },
            )
        if sla:
            cal = await do_save_calendar(
                s, actor, name="工作日", timezone="Asia/Shanghai", week=WEEKDAYS, holidays=[], workdays=[]
            )
            org.calendar_id = cal.id
            default = await do_save_sla_policy(
                s, actor, name="默认", is_default=True, response_minutes=120, resolution_minutes=24 * 60, position=1000
            )
            vip = await do_save_sla_policy(
                s,
                actor,
                name="VIP",
                conditions={"vip": True},
                response_minutes=30,
                resolution_minutes=8 * 60,
                calendar_id=cal.id,
                position=10,
                escalations=["notify", "raise_priority", "reassign_supervisor"],
            )
            org.policies = {"default": default.id, "vip": vip.id}
        await s.commit()
    return org


async def create_order(
    world: World, org: Org, *, category: str = "收费争议/增值业务/不知情定制", actor: Actor | None = None, **kw: Any
) -> Any:
    async with world.session() as s:
        await bind_tenant(s, org.t.id)
        order = await do_create_work_order(
            s,
            actor or world.admin_actor(org.t.id),
            title=kw.pop("title", "投诉"),
            category_id=org.categories[category],
            **kw,
        )
        await s.commit()
    return order


# ------------------------------------------------------------------ id factories for tests/test_isolation.py

_orgs: dict[uuid.UUID, dict[str, Any]] = {}


async def _basic(world: World, t: TenantInfo) -> dict[str, Any]:
    """Lazily seed one category and customer in an existing tenant."""
    key = t.id
    cached = _orgs.get(key)
    if cached and cached.get("world") is world:
        return cached
    actor = world.admin_actor(t.id)
    async with world.session() as s:
        await bind_tenant(s, t.id)
        cat = await ensure_category_path(s, actor, f"收费争议/增值业务/{uuid.uuid4().hex[:6]}")
        customer = await do_create_customer(
            s, actor, name="王芳", phones=[f"1391234{uuid.uuid4().int % 10000:04d}"], credit_rating="AA", star_level=4
        )
        await s.commit()
    _orgs[key] = {"world": world, "category_id": cat.id, "customer_id": customer.id}
    return _orgs[key]


async def make_order(world: World, t: TenantInfo) -> uuid.UUID:
    base = await _basic(world, t)
    async with world.session() as s:
        await bind_tenant(s, t.id)
        order = await do_create_work_order(
            s, world.admin_actor(t.id), title="x", category_id=base["category_id"], customer_id=base["customer_id"]
        )
        await s.commit()
    return order.id


async def make_category(world: World, t: TenantInfo) -> uuid.UUID:
    return (await _basic(world, t))["category_id"]


async def make_customer(world: World, t: TenantInfo) -> uuid.UUID:
    return (await _basic(world, t))["customer_id"]


async def make_area(world: World, t: TenantInfo) -> uuid.UUID:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        area = await ensure_area_path(s, world.admin_actor(t.id), f"省/市{uuid.uuid4().hex[:6]}")
        await s.commit()
    return area.id


async def make_rule(world: World, t: TenantInfo) -> uuid.UUID:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        actor = world.admin_actor(t.id)
        dep = await do_create_department(s, actor, name=f"d-{uuid.uuid4().hex[:8]}")
        rule = await do_save_dispatch_rule(s, actor, department_id=dep.id)
        await s.commit()
    return rule.id


async def make_calendar(world: World, t: TenantInfo) -> uuid.UUID:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        cal = await do_save_calendar(
            s,
            world.admin_actor(t.id),
            name=f"c-{uuid.uuid4().hex[:6]}",
            timezone="Asia/Shanghai",
            week=WEEKDAYS,
            holidays=[],
            workdays=[],
        )
        await s.commit()
    return cal.id


async def make_policy(world: World, t: TenantInfo) -> uuid.UUID:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        policy = await do_save_sla_policy(
            s, world.admin_actor(t.id), name=f"p-{uuid.uuid4().hex[:6]}", response_minutes=60, resolution_minutes=600
        )
        await s.commit()
    return policy.id


async def make_authority_policy(world: World, t: TenantInfo) -> uuid.UUID:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        policy = await do_save_authority_policy(
            s, world.admin_actor(t.id), name=f"a-{uuid.uuid4().hex[:6]}", conditions=[], outcome="supervisor"
        )
        await s.commit()
    return policy.id


async def make_refund(world: World, t: TenantInfo) -> uuid.UUID:
    order_id = await make_order(world, t)
    async with world.session() as s:
        await bind_tenant(s, t.id)
        decision = await do_request_refund(
            s, world.admin_actor(t.id), order_id, amount="10.00", charge_type="value_added_service"
        )
        await s.commit()
    return decision.id


async def make_attachment(world: World, t: TenantInfo) -> uuid.UUID:
    order_id = await make_order(world, t)
    async with world.session() as s:
        await bind_tenant(s, t.id)
        row = await do_add_attachment(
            s,
            world.admin_actor(t.id),
            order_id,
            filename="a.txt",
            content_type="text/plain",
            content_base64=base64.b64encode(b"hi").decode(),
        )
        await s.commit()
    return row.id


ISOLATION_FACTORIES = {
    "order_id": make_order,
    "category_id": make_category,
    "customer_id": make_customer,
    "area_id": make_area,
    "rule_id": make_rule,
    "calendar_id": make_calendar,
    "policy_id": make_policy,
    "authority_policy_id": make_authority_policy,
    "refund_id": make_refund,
    "attachment_id": make_attachment,
}
