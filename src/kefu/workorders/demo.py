"""Demo seed for the demo organisation: taxonomy, dispatch rules, calendar with Chinese holidays, SLA and
authority policies, a few hundred customers and a few hundred historical orders. Idempotent."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from kefu.core.actor import Actor
from kefu.core.db import bind_tenant, make_session_factory
from kefu.core.time import VirtualClock
from kefu.demo import seed_admin
from kefu.tenancy.rules import Permission

WEEK = {d: [["09:00", "12:00"], ["13:30", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
#: 2026 public holidays and make-up working days (调休) as announced by the State Council (demo data).
HOLIDAYS_2026 = (
    ["2026-01-01", "2026-01-02", "2026-01-03"]
    + [f"2026-02-{d:02d}" for d in range(15, 24)]
    + ["2026-04-04", "2026-04-05", "2026-04-06"]
    + [f"2026-05-{d:02d}" for d in range(1, 6)]
    + ["2026-06-19", "2026-06-20", "2026-06-21", "2026-09-25", "2026-09-26", "2026-09-27"]
    + [f"2026-10-{d:02d}" for d in range(1, 8)]
)
WORKDAYS_2026 = ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"]
AREAS = {
    "广东省/深圳市/南山区": ["科技园小区", "蛇口花园", "南山书香苑"],
    "广东省/深圳市/福田区": ["香蜜湖小区", "景田北"],
    "广东省/深圳市/宝安区": ["西乡碧海湾", "新安翠湖苑"],
    "广东省/广州市/天河区": ["珠江新城", "猎德花园"],
    "广东省/广州市/越秀区": ["东山口小区"],
}
RULES = [("网络质量", "网络部", 10), ("收费争议", "计费部", 20), ("用户服务/营销活动", "市场部", 30)]
CHARGES = ["value_added_service", "data", "package"]


async def seed(ctx: Any, tenant_id: Any, *, customers: int = 300, orders: int = 240) -> None:
    from kefu.customers.actions import do_create_customer, ensure_area_path
    from kefu.tenancy.models import Department, User
    from kefu.workorders.actions import (
        do_save_calendar,
        do_save_dispatch_rule,
        do_save_sla_policy,
        do_update_config,
        ensure_category_path,
    )
    from kefu.workorders.models import WorkOrderConfig
    from kefu.workorders.refunds import do_save_authority_policy
    from kefu.workorders.taxonomy import seed_taxonomy

    actor = seed_admin(tenant_id)
    async with ctx.session_factory() as session:
        await bind_tenant(session, tenant_id)
        if (await session.execute(sa.select(WorkOrderConfig.id).where(WorkOrderConfig.tenant_id == tenant_id))).first():
            return  # seeded before
        deps = dict(
            (
                await session.execute(
                    sa.select(Department.name, Department.id).where(Department.tenant_id == tenant_id)
                )
            ).all()
        )
        await seed_taxonomy(session, actor, "telecom")
        for category, department, position in RULES:
            if department in deps:
                cat = await ensure_category_path(session, actor, category)
                await do_save_dispatch_rule(
                    session,
                    actor,
                    department_id=deps[department],
                    category_id=cat.id,
                    position=position,
                    name=f"{category} → {department}",
                )
        await do_update_config(
            session,
            actor,
            {
                "fallback_department_id": deps.get("投诉处理中心"),
                "verification_department_id": deps.get("计费部"),
                "team_daily_budget_cents": 100000,
            },
        )
        cal = await do_save_calendar(
            session,
            actor,
            name="工作日 9:00-18:00（午休 12:00-13:30）",
            timezone="Asia/Shanghai",
            week=WEEK,
            holidays=HOLIDAYS_2026,
            workdays=WORKDAYS_2026,
        )
        await do_save_sla_policy(
            session,
            actor,
            name="默认投诉时限",
            is_default=True,
            position=1000,
            response_minutes=4 * 60,
            resolution_minutes=3 * 450,
            calendar_id=cal.id,
            escalations=["notify"],
        )
        await do_save_sla_policy(
            session,
            actor,
            name="VIP 客户",
            position=10,
            conditions={"vip": True},
            response_minutes=30,
            resolution_minutes=450,
            calendar_id=cal.id,
            escalations=["notify", "raise_priority", "reassign_supervisor"],
        )
        await do_save_sla_policy(
            session,
            actor,
            name="紧急投诉",
            position=20,
            conditions={"priorities": [4]},
            response_minutes=60,
            resolution_minutes=12 * 60,
            escalations=["notify"],
        )
        await do_save_authority_policy(
            session,
            actor,
            name="频繁退费需拒绝",
            position=5,
            outcome="refuse",
            conditions=[{"field": "history.refunds_12m", "op": ">=", "value": 3}],
        )
        await do_save_authority_policy(
            session,
            actor,
            name="增值业务小额先退后查（如 35 元不知情定制）",
            position=10,
            outcome="approve",
            conditions=[
                {"field": "charge.type", "op": "==", "value": "value_added_service"},
                {"field": "charge.amount", "op": "<=", "value": 50},
                {"field": "customer.credit_rating", "op": ">=", "value": "A"},
                {"field": "customer.star_level", "op": ">=", "value": 3},
                {"field": "history.refunds_12m", "op": "<", "value": 2},
            ],
        )
        await do_save_authority_policy(
            session,
            actor,
            name="大额退费须主管审批",
            position=20,
            outcome="supervisor",
            conditions=[{"field": "charge.amount", "op": ">", "value": 50}],
        )
        area_ids = []
        for district, compounds in AREAS.items():
            for compound in compounds:
                area_ids.append((await ensure_area_path(session, actor, f"{district}/{compound}")).id)
        from faker import Faker

        fake = Faker("zh_CN")
        fake.seed_instance(5)
        rng = random.Random(5)
        numbers: set[str] = set()
        customer_ids = []
        while len(customer_ids) < customers:
            phone = fake.phone_number()
            if phone in numbers or not phone.startswith(("13", "15", "18")):
                continue
            numbers.add(phone)
            row = await do_create_customer(
                session,
                actor,
                name=fake.name(),
                phones=[phone],
                id_number=fake.ssn(),
                address=fake.address()[:200],
                area_id=rng.choice(area_ids),
                plan=rng.choice(["畅享 58", "畅享 128", "5G 智享 198", "宽带融合 169"]),
                star_level=rng.choice([0, 1, 2, 3, 3, 4, 4, 5, 6, 7]),
                credit_rating=rng.choice(["AAA", "AA", "AA", "A", "A", "B", "B", "C"]),
                vip=rng.random() < 0.08,
                customer_since=datetime(2012, 1, 1, tzinfo=UTC) + timedelta(days=rng.randint(0, 5000)),
            )
            customer_ids.append((row.id, phone))
        users = {
            u.username: u for u in (await session.execute(sa.select(User).where(User.tenant_id == tenant_id))).scalars()
        }
        await session.commit()
    await _history(ctx, tenant_id, customer_ids, users, rng, orders)


async def _history(
    ctx: Any, tenant_id: Any, customer_ids: list[tuple[Any, str]], users: dict[str, Any], rng: random.Random, count: int
) -> None:
    """Historical orders, each played through its lifecycle on a virtual clock in the past."""
    from kefu.workorders import followup
    from kefu.workorders.actions import (
        do_create_work_order,
        do_pend_work_order,
        do_reply_work_order,
        do_resume_work_order,
        do_take_work_order,
    )
    from kefu.workorders.jobs import run_once
    from kefu.workorders.models import Category

    tz = ZoneInfo("Asia/Shanghai")
    real_now = ctx.now()
    clock = VirtualClock(start=(real_now - timedelta(days=50)).timestamp())
    seed_ctx = replace(ctx, clock=clock)
    factory = make_session_factory(ctx.services["engine"])
    factory.configure(info={"context": seed_ctx})
    seed_ctx.session_factory = factory
    agents = [u for u in users.values() if "agent" in (u.roles or [])] or list(users.values())
    handlers = {u.department_id: u for u in users.values() if "back_office" in (u.roles or [])}
    async with factory() as session:
        await bind_tenant(session, tenant_id)
        leaves = (
            (await session.execute(sa.select(Category).where(Category.tenant_id == tenant_id, Category.level == 3)))
            .scalars()
            .all()
        )
    start = real_now - timedelta(days=45)
    moments = sorted(start + timedelta(seconds=rng.randint(0, 44 * 86400)) for _ in range(count))
    for when in moments:
        local = when.astimezone(tz)
        if local.hour < 8 or local.hour >= 21:  # calls arrive in the daytime
            when = datetime.combine(local.date(), time(rng.randint(8, 20), rng.randint(0, 59)), tzinfo=tz)
        clock = seed_ctx.clock = VirtualClock(start=when.timestamp())  # each order on its own timeline
        agent = rng.choice(agents)
        a = Actor(
            Actor.system("x").kind,
            tenant_id,
            agent.id,
            agent.username,
            frozenset(Permission),
            roles=tuple(agent.roles),
            department_id=agent.department_id,
        )
        customer_id, phone = rng.choice(customer_ids)
        category = rng.choice(leaves)
        fate = rng.random()
        async with factory() as session:
            await bind_tenant(session, tenant_id)
            if fate < 0.45:
                await do_create_work_order(
                    session,
                    a,
                    title=category.name,
                    category_id=category.id,
                    customer_id=customer_id,
                    caller=phone,
                    description=f"客户来电反映{category.name}。",
                    resolve_now={"resolution": "resolved", "reply": "已当场解释并处理。"},
                )
                await session.commit()
                continue
            order = await do_create_work_order(
                session,
                a,
                title=category.name,
                category_id=category.id,
                customer_id=customer_id,
                caller=phone,
                dispatch="auto",
                priority=rng.choice([2, 2, 2, 3, 4]),
                threatens_escalation=rng.random() < 0.05,
                description=f"客户来电反映{category.name}，要求尽快处理。",
            )
            await session.commit()
        handler_user = handlers.get(order.department_id) or agent
        h = Actor(
            Actor.system("x").kind,
            tenant_id,
            handler_user.id,
            handler_user.username,
            frozenset(Permission),
            roles=tuple(handler_user.roles),
            department_id=handler_user.department_id,
        )
        steps = rng.random()
        hours = rng.choice([0.5, 1, 2, 3, 5, 8, 20, 30, 50])
        if when + timedelta(hours=hours + 4) > real_now:
            continue
        async with factory() as session:
            await bind_tenant(session, tenant_id)
            clock.advance(rng.randint(5, 60) * 60)
            await do_take_work_order(session, h, order.id)
            if steps < 0.15:
                await session.commit()
                continue  # still being handled
            if rng.random() < 0.2:
                await do_pend_work_order(session, h, order.id, reason="等待客户提供资料")
                clock.advance(hours * 1800)
                await do_resume_work_order(session, h, order.id)
            clock.advance(hours * 3600)
            resolution = rng.choices(["resolved", "partly_resolved", "unresolved"], [85, 10, 5])[0]
            await do_reply_work_order(session, h, order.id, resolution=resolution, reply="已处理并回复客户。")
            if steps < 0.25:
                await session.commit()
                continue
            clock.advance(rng.randint(1, 6) * 3600)
            await followup.do_start_follow_up(session, a, order.id, channel="call")
            answer = rng.choices(
                ["very_satisfied", "satisfied", "neutral", "unsatisfied", "no_answer"], [55, 30, 5, 4, 6]
            )[0]
            await followup.do_record_follow_up(session, a, order.id, answer=answer)
            await session.commit()
    seed_ctx.clock = VirtualClock(start=real_now.timestamp())
    await run_once(seed_ctx, real_now)
