"""A call wrapped up with a complaint code feeds early warning once, even when no work order is written for it;
a work order written later for that call adds no second complaint event (the outbox is append-only)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from calls.call_support import build_call_center
from kefu.core.db import bind_tenant, commit
from kefu.customers.actions import do_create_customer, ensure_area_path
from kefu.workorders.actions import do_create_work_order, ensure_category_path
from kefu.workorders.models import ComplaintEvent

COMPOUND = "广东省/深圳市/南山区/科技园小区"
CODES = {"wrap_up_codes": ["resolved", "signal_complaint"], "complaint_codes": {"signal_complaint": "网络质量/信号覆盖"}}


async def _events(cc) -> list[ComplaintEvent]:
    async with cc.world.session() as s:
        await bind_tenant(s, cc.tenant.id)
        return list((await s.execute(sa.select(ComplaintEvent).order_by(ComplaintEvent.id))).scalars())


async def _handled_call(cc) -> tuple[object, str]:
    await cc.available("agent1")
    client = await cc.world.login(cc.tenant, "agent1")
    cc.call(talk_time=30.0)
    await cc.run(5)
    ringing = (await client.get(f"/api/v1/t/{cc.tenant.slug}/desktop")).json()["ringing"][0]
    r = await client.post(f"/api/v1/t/acme/calls/{ringing['call_id']}/answer")
    assert r.status_code == 200, r.text
    await cc.run(40)  # the caller talks, hangs up, skips the survey
    await cc.stored()
    return client, ringing["call_id"]


async def test_a_complaint_code_counts_the_call_once_and_a_later_order_adds_nothing(world):
    cc = await build_call_center(world)
    admin = await world.login(cc.tenant, "admin")
    r = await admin.patch("/api/v1/t/acme/calls-settings", json=CODES)
    assert r.status_code == 200, r.text
    async with world.session() as s:
        await bind_tenant(s, cc.tenant.id)
        actor = world.admin_actor(cc.tenant.id)
        area = await ensure_area_path(s, actor, COMPOUND)
        await do_create_customer(s, actor, name="王芳", phones=["+8613812345678"], area_id=area.id)
        category = await ensure_category_path(s, actor, "网络质量/信号覆盖/室内无信号")
        await commit(s)

    client, call_id = await _handled_call(cc)
    for _ in range(2):  # wrapping up again (a corrected note) does not count the complaint twice
        r = await client.post(f"/api/v1/t/acme/calls/{call_id}/wrap-up", json={"code": "signal_complaint", "notes": ""})
        assert r.status_code == 200, r.text
    [event] = await _events(cc)
    assert (event.kind, event.order_id, event.call_id) == ("complaint.call", None, uuid.UUID(call_id))
    assert (event.area_path, event.category_path) == (COMPOUND, "网络质量/信号覆盖")
    assert event.caller_index  # the blind index, never the number

    async with world.session() as s:
        await bind_tenant(s, cc.tenant.id)
        order = await do_create_work_order(
            s, world.admin_actor(cc.tenant.id), title="室内无信号", category_id=category.id,
            caller="+8613812345678", source_call_id=uuid.UUID(call_id),
        )
        await commit(s)
    assert order.source_call_id == uuid.UUID(call_id)
    assert [e.id for e in await _events(cc)] == [event.id]


async def test_a_plain_wrap_up_is_no_complaint_and_bad_complaint_codes_change_nothing(world):
    cc = await build_call_center(world)
    admin = await world.login(cc.tenant, "admin")
    r = await admin.patch("/api/v1/t/acme/calls-settings", json=CODES)
    assert r.status_code == 200, r.text
    for bad in ({"complaint_codes": {"no_such_code": "网络质量"}}, {"complaint_codes": {"resolved": " / "}}):
        r = await admin.patch("/api/v1/t/acme/calls-settings", json=bad)
        assert r.status_code == 422, r.text
        assert "complaint_codes" in r.text
    assert (await admin.get("/api/v1/t/acme/calls-settings")).json()["complaint_codes"] == CODES["complaint_codes"]

    client, call_id = await _handled_call(cc)
    r = await client.post(f"/api/v1/t/acme/calls/{call_id}/wrap-up", json={"code": "resolved", "notes": ""})
    assert r.status_code == 200, r.text
    assert await _events(cc) == []
