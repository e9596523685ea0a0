"""Seed taxonomies and the demo organisation's work-order data."""

from __future__ import annotations

import sqlalchemy as sa

from kefu.core.db import bind_tenant
from kefu.workorders.models import Category, WorkOrder, WorkOrderConfig
from kefu.workorders.taxonomy import TAXONOMIES, seed_taxonomy


async def test_both_taxonomies_seed_idempotently(world):
    t = await world.tenant("acme")
    async with world.session() as s:
        await bind_tenant(s, t.id)
        for _ in range(2):
            await seed_taxonomy(s, world.admin_actor(t.id), "telecom")
            await seed_taxonomy(s, world.admin_actor(t.id), "water")
        await s.commit()
        roots = (await s.execute(sa.select(Category.path).where(Category.level == 1))).scalars().all()
        leaves = (await s.execute(sa.select(sa.func.count()).select_from(Category).where(Category.level == 3))).scalar()
    assert {"网络质量", "收费争议", "用户服务", "供水服务", "水费争议"} <= set(roots)
    assert leaves == len(set(TAXONOMIES["telecom"]) | set(TAXONOMIES["water"]))


async def test_demo_seed_builds_a_working_complaint_center(world):
    from kefu.demo import seed_demo
    from kefu.tenancy.models import Tenant
    from kefu.workorders.demo import seed

    await seed_demo(world.ctx)  # runs the work-order seed too (DEMO_SEEDS)
    async with world.session() as s:
        tenant = (await s.execute(sa.select(Tenant).where(Tenant.slug == "demo"))).scalar_one()
    await seed(world.ctx, tenant.id)  # idempotent: a second run adds nothing
    async with world.session() as s:
        await bind_tenant(s, tenant.id)
        orders = (await s.execute(sa.select(WorkOrder.status, sa.func.count()).group_by(WorkOrder.status))).all()
        configs = (await s.execute(sa.select(sa.func.count()).select_from(WorkOrderConfig))).scalar()
    counts = dict(orders)
    assert configs == 1 and sum(counts.values()) == 240
    assert counts.get("archived", 0) > 100 and len(counts) >= 3
