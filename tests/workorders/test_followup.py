"""Satisfaction follow-up by SMS: the reply is parsed, unsatisfied reopens, the answer feeds the KPI."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from kefu.core.db import bind_tenant
from kefu.workorders.rules import parse_satisfaction
from workorders.wo_support import build_org

API = "/api/v1/t/acme"


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("1", "very_satisfied"),
        (" 2 ", "satisfied"),
        ("3", "neutral"),
        ("4", "unsatisfied"),
        ("5", "very_unsatisfied"),
        ("非常满意", "very_satisfied"),
        ("满意，谢谢", "satisfied"),
        ("不满意!", "unsatisfied"),
        ("很不满意", "very_unsatisfied"),
        ("一般吧", "neutral"),
        ("回复1", "very_satisfied"),
        ("Satisfied", "satisfied"),
        ("12", None),
        ("你好", None),
        ("", None),
        ("9", None),
    ],
)
def test_reply_parsing(text, answer):
    assert parse_satisfaction(text) == answer


async def _replied_order(world, org, admin):
    r = await admin.post(
        f"{API}/work-orders",
        json={
            "title": "彩铃",
            "category_id": str(org.categories["收费争议/增值业务/不知情定制"]),
            "customer_id": str(org.customers["zhang"]),
            "dispatch": "auto",
        },
    )
    oid = r.json()["id"]
    await admin.post(f"{API}/work-orders/{oid}/take")
    await admin.post(f"{API}/work-orders/{oid}/reply", json={"resolution": "resolved", "reply": "已退订"})
    return oid


async def _send_all(world, org):
    """What the relay does: claim the queued messages and record that the provider accepted them."""
    from kefu.messaging import SendResult
    from kefu.messaging.actions import claim_due_messages, record_send_result

    ctx = world.ctx
    async with world.session() as s:
        await bind_tenant(s, org.t.id)
        claims = await claim_due_messages(
            s, org.t.tenant, now=ctx.now(), limit=10, owner="test", lease=timedelta(minutes=1), max_attempts=3
        )
        await s.commit()
    async with world.session() as s:
        await bind_tenant(s, org.t.id)
        for claim in claims:
            await record_send_result(s, claim, now=ctx.now(), result=SendResult("test", f"p-{claim.message_id}"))
        await s.commit()
    return claims


async def test_sms_follow_up_reply_archives_or_reopens(world):
    messaging = pytest.importorskip("kefu.messaging")
    org = await build_org(world)
    admin = await world.login(org.t)
    happy = await _replied_order(world, org, admin)
    r = await admin.post(f"{API}/work-orders/{happy}/follow-up", json={"channel": "sms"})
    assert r.status_code == 200, r.text
    claims = await _send_all(world, org)
    assert len(claims) == 1 and "回复数字评价" in claims[0].outgoing.body
    async with world.session() as s:
        await bind_tenant(s, org.t.id)
        await messaging.do_receive_inbound(s, org.t.tenant, "+8613812341234", "2 满意", "in-1")
        await s.commit()
    got = (await admin.get(f"{API}/work-orders/{happy}")).json()
    assert got["status"] == "archived" and got["satisfaction"] == "satisfied"
    assert got["follow_ups"][0]["answer"] == "satisfied" and got["follow_ups"][0]["channel"] == "sms"

    unhappy = await _replied_order(world, org, admin)
    await admin.post(f"{API}/work-orders/{unhappy}/follow-up", json={"channel": "sms"})
    await _send_all(world, org)
    async with world.session() as s:
        await bind_tenant(s, org.t.id)
        inbound = await messaging.do_receive_inbound(s, org.t.tenant, "13812341234", "4", "in-2")
        await s.commit()
    assert inbound.status == "handled"
    got = (await admin.get(f"{API}/work-orders/{unhappy}")).json()
    assert got["status"] == "accepted" and got["satisfaction"] == "unsatisfied"
    assert any(h["action"] == "reopen" and h["actor_name"] == "sms-follow-up" for h in got["history"])


async def test_sms_follow_up_needs_a_number(world):
    org = await build_org(world)
    admin = await world.login(org.t)
    r = await admin.post(
        f"{API}/work-orders",
        json={"title": "x", "category_id": str(org.categories["用户服务/服务态度/营业厅"]), "dispatch": "auto"},
    )
    oid = r.json()["id"]
    await admin.post(f"{API}/work-orders/{oid}/take")
    await admin.post(f"{API}/work-orders/{oid}/reply", json={"resolution": "resolved", "reply": "ok"})
    before = await world.digest([org.t.id])
    r = await admin.post(f"{API}/work-orders/{oid}/follow-up", json={"channel": "sms"})
    assert r.status_code == 422 and "no customer phone" in r.json()["detail"]
    assert await world.digest([org.t.id]) == before
    async with world.session() as s:
        await bind_tenant(s, org.t.id)
        assert (await s.execute(sa.text("select count(*) from work_order_follow_ups"))).scalar() == 0
