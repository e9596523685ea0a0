"""Work-order numbers: per tenant and day, gapless, unique under concurrent creation; the counter row is taken
last in the creating transaction (not held while the rest of the order is written)."""

from __future__ import annotations

import asyncio
import re

import sqlalchemy as sa

from kefu.core.db import bind_tenant, commit, rollback
from kefu.workorders.actions import do_create_work_order
from kefu.workorders.models import WorkOrder, WorkOrderEvent
from workorders.wo_support import build_org

API = "/api/v1/t/acme"


async def test_concurrent_creations_get_consecutive_numbers_and_a_rollback_leaves_no_gap(world):
    org = await build_org(world)
    category = org.categories["网络质量/信号覆盖/室内无信号"]
    async with world.session() as s:  # a creation that is rolled back takes no number for good
        await bind_tenant(s, org.t.id)
        order = await do_create_work_order(s, world.admin_actor(org.t.id), title="无信号", category_id=category)
        assert re.fullmatch(r"TS-\d{8}-000001", order.number)
        await rollback(s)

    clients = [await world.login(org.t) for _ in range(3)]

    async def create(i: int) -> str:
        r = await clients[i % 3].post(
            f"{API}/work-orders", json={"title": f"无信号 {i}", "category_id": str(category), "dispatch": "auto"}
        )
        assert r.status_code == 201, r.text
        return r.json()["number"]

    numbers = await asyncio.gather(*(create(i) for i in range(8)))
    assert sorted(int(n[-6:]) for n in numbers) == list(range(1, 9)), numbers
    async with world.session() as s:
        await bind_tenant(s, org.t.id)
        stored = (await s.execute(sa.select(WorkOrder.number))).scalars().all()
        assert sorted(stored) == sorted(numbers)  # no provisional number survives its transaction
        created = (await s.execute(sa.select(WorkOrderEvent).where(WorkOrderEvent.action == "created"))).scalars()
        assert all("~" not in str(e.details) for e in created)
        await commit(s)
