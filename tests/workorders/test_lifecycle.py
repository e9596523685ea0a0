"""The work-order lifecycle through the HTTP API: create, dispatch, handle, reply, follow up, archive."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kefu.core.db import bind_tenant
from kefu.tenancy.rules import Permission
from kefu.workorders.models import ComplaintEvent, WorkOrderLink
from kefu.workorders.rules import TRANSITIONS, IllegalTransition, Status, next_status
from workorders.wo_support import build_org

API = "/api/v1/t/acme"
ALL = [p.value for p in Permission]


@pytest.fixture
async def org(world):
    return await build_org(world)


async def _create(client, org, **kw):
    body = {
        "title": "彩铃扣费",
        "category_id": str(org.categories["收费争议/增值业务/不知情定制"]),
        "customer_id": str(org.customers["zhang"]),
        **kw,
    }
    r = await client.post(f"{API}/work-orders", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_every_transition_is_in_the_one_table():
    assert next_status("dispatch", "accepted") == Status.DISPATCHED
    with pytest.raises(IllegalTransition, match="Cannot reply an order that is accepted"):
        next_status("reply", "accepted")
    for action, (sources, target) in TRANSITIONS.items():
        for status in Status:
            if status in sources:
                assert next_status(action, status) == target
            else:
                with pytest.raises(IllegalTransition):
                    next_status(action, status)


async def test_full_lifecycle_with_history(world, org):
    admin = await world.login(org.t)
    await world.user(org.t, "net1", ["back_office"], department_id=org.departments["网络部"])
    handler = await world.login(org.t, "net1")
    call_id = "0190a0c0-0000-7000-8000-00000000ca11"
    order = await _create(
        admin,
        org,
        category_id=str(org.categories["网络质量/信号覆盖/室内无信号"]),
        source_call_id=call_id,
        caller="13812341234",
        dispatch="auto",
    )
    assert re.fullmatch(r"TS-\d{8}-000001", order["number"])
    assert order["status"] == "dispatched" and order["department_id"] == str(org.departments["网络部"])
    assert order["caller"] == "138****1234" and order["source_call_id"] == call_id
    assert order["area_path"] == "广东省/深圳市/南山区/科技园小区"  # from the customer
    oid = order["id"]
    for path, body in (
        ("take", None),
        ("pend", {"reason": "等待客户提供室内位置"}),
        ("resume", None),
        ("reply", {"resolution": "resolved", "reply": "已调整室分天线"}),
    ):
        r = await handler.post(f"{API}/work-orders/{oid}/{path}", json=body)
        assert r.status_code == 200, (path, r.text)
    r = await handler.post(f"{API}/work-orders/{oid}/follow-up", json={"channel": "call"})
    assert r.status_code == 200 and r.json()["status"] == "follow_up"
    r = await handler.post(f"{API}/work-orders/{oid}/follow-up/answer", json={"answer": "very_satisfied"})
    assert r.status_code == 200 and r.json()["status"] == "archived" and r.json()["satisfaction"] == "very_satisfied"
    detail = (await admin.get(f"{API}/work-orders/{oid}")).json()
    steps = [
        (h["action"], h["to_status"], h["actor_name"])
        for h in detail["history"]
        if h["action"] not in ("follow_up_sent", "follow_up_answer")
    ]
    assert steps == [
        ("created", "accepted", "admin"),
        ("dispatch", "dispatched", "admin"),
        ("take", "in_progress", "net1"),
        ("pend", "pending_customer", "net1"),
        ("resume", "in_progress", "net1"),
        ("reply", "replied", "net1"),
        ("start_follow_up", "follow_up", "net1"),
        ("archive", "archived", "net1"),
    ]
    assert detail["history"][3]["reason"] == "等待客户提供室内位置"
    assert detail["on_time"] is True and detail["handling_seconds"] is not None
    assert detail["allowed_actions"] == ["reopen"]
    async with world.session() as s:
        await bind_tenant(s, org.t.id)
        outbox = (await s.execute(sa.select(ComplaintEvent))).scalar_one()
    assert outbox.area_path == "广东省/深圳市/南山区/科技园小区" and outbox.category_path.startswith("网络质量/")


async def test_illegal_transitions_and_bad_input_change_nothing(world, org):
    admin = await world.login(org.t)
    oid = (await _create(admin, org))["id"]
    before = await world.digest([org.t.id])
    r = await admin.post(f"{API}/work-orders/{oid}/reply", json={"resolution": "resolved", "reply": "x"})
    assert r.status_code == 409 and r.json()["type"].endswith("illegal-transition")
    assert "Cannot reply an order that is accepted" in r.json()["detail"]
    r = await admin.post(f"{API}/work-orders/{oid}/archive")
    assert r.status_code == 409
    r = await admin.post(
        f"{API}/work-orders/{oid}/dispatch", json={"department_id": "0190a0c0-0000-7000-8000-0000000000d1"}
    )
    assert r.status_code == 404 and "department" in r.json()["detail"]
    r = await admin.post(
        f"{API}/work-orders", json={"title": "x", "category_id": "0190a0c0-0000-7000-8000-0000000000c1"}
    )
    assert r.status_code == 404
    r = await admin.post(
        f"{API}/work-orders", json={"title": "x", "category_id": str(org.categories["用户服务"]), "caller": "hello"}
    )
    assert r.status_code == 422
    r = await admin.post(
        f"{API}/work-orders",
        json={
            "title": "x",
            "category_id": str(org.categories["用户服务"]),
            "dispatch": "auto",
            "resolve_now": {"resolution": "resolved", "reply": "ok"},
        },
    )
    assert r.status_code == 422
    assert await world.digest([org.t.id]) == before
    await admin.post(f"{API}/work-orders/{oid}/dispatch", json={})
    r = await admin.post(f"{API}/work-orders/{oid}/return", json={"reason": " "})
    assert r.status_code == 422 and "reason" in r.json()["detail"]


async def test_dispatch_rules_fallback_and_manual(world):
    org = await build_org(world, rules=False)
    admin = await world.login(org.t)
    oid = (await _create(admin, org))["id"]
    r = await admin.post(f"{API}/work-orders/{oid}/dispatch", json={})
    assert r.status_code == 422 and "No dispatch rule" in r.json()["detail"]
    r = await admin.patch(
        f"{API}/work-order-config", json={"fallback_department_id": str(org.departments["投诉处理中心"])}
    )
    assert r.status_code == 200
    r = await admin.post(f"{API}/work-orders/{oid}/dispatch", json={})
    assert r.json()["department_id"] == str(org.departments["投诉处理中心"])
    # a more specific rule: billing complaints from Shenzhen go to billing
    r = await admin.post(
        f"{API}/dispatch-rules",
        json={
            "department_id": str(org.departments["计费部"]),
            "category_id": str(org.categories["收费争议"]),
            "area_id": str(org.areas["广东省/深圳市"]),
            "position": 1,
        },
    )
    assert r.status_code == 201
    assert (await _create(admin, org, dispatch="auto"))["department_id"] == str(org.departments["计费部"])
    other = await _create(admin, org, dispatch="auto", customer_id=str(org.customers["li"]))  # no area
    assert other["department_id"] == str(org.departments["投诉处理中心"])


async def test_first_contact_resolution_is_intercepted(world, org):
    admin = await world.login(org.t)
    order = await _create(admin, org, resolve_now={"resolution": "resolved", "reply": "当场解释计费规则"})
    assert order["status"] == "archived" and order["intercepted"] and order["department_id"] is None
    dispatched = await _create(admin, org, dispatch="auto")
    r = await admin.post(
        f"{API}/work-orders/{dispatched['id']}/intercept", json={"resolution": "resolved", "reply": "x"}
    )
    assert r.status_code == 409


async def test_back_office_works_only_its_own_department(world, org):
    admin = await world.login(org.t)
    await world.user(org.t, "bill1", ["back_office"], department_id=org.departments["计费部"])
    outsider = await world.login(org.t, "bill1")
    oid = (await _create(admin, org, category_id=str(org.categories["网络质量/上网速度/网速慢"]), dispatch="auto"))[
        "id"
    ]
    before = await world.digest([org.t.id])
    r = await outsider.post(f"{API}/work-orders/{oid}/take")
    assert r.status_code == 403 and "another department" in r.json()["detail"]
    assert await world.digest([org.t.id]) == before


async def test_hand_offs_are_counted_from_history(world, org):
    admin = await world.login(org.t)
    oid = (await _create(admin, org, dispatch="auto"))["id"]  # billing
    r = await admin.post(
        f"{API}/work-orders/{oid}/dispatch",
        json={"department_id": str(org.departments["网络部"]), "reason": "实为网络问题"},
    )
    assert r.status_code == 200 and r.json()["handoffs"] == 1
    r = await admin.post(f"{API}/work-orders/{oid}/return", json={"reason": "不属于本部门"})
    assert r.json()["status"] == "accepted"
    r = await admin.post(f"{API}/work-orders/{oid}/dispatch", json={"department_id": str(org.departments["网络部"])})
    assert r.json()["handoffs"] == 1  # back to the same department: not a new hand-off
    r = await admin.post(
        f"{API}/work-orders/{oid}/dispatch",
        json={"department_id": str(org.departments["市场部"]), "reason": "营销活动问题"},
    )
    assert r.json()["handoffs"] == 2
    r = await admin.post(
        f"{API}/work-orders/{oid}/dispatch", json={"department_id": str(org.departments["市场部"]), "reason": "again"}
    )
    assert r.status_code == 409


async def test_repeat_complaints_are_flagged_and_linked(world, org, clock):
    admin = await world.token_client(org.t, ALL)  # tokens outlive the 91 days the clock moves
    first = await _create(admin, org, caller="13700001111")
    same = await _create(admin, org, caller="+86 137 0000 1111")
    other_class = await _create(
        admin, org, caller="13700001111", category_id=str(org.categories["网络质量/信号覆盖/室内无信号"])
    )
    assert not first["is_repeat"] and same["is_repeat"] and same["repeat_of_id"] == first["id"]
    assert not other_class["is_repeat"]
    clock.advance(91 * 86400)
    later = await _create(admin, org, caller="13700001111")
    assert not later["is_repeat"]
    async with world.session() as s:
        await bind_tenant(s, org.t.id)
        links = (await s.execute(sa.select(WorkOrderLink.kind))).scalars().all()
    assert links == ["repeat"]
    r = await admin.get(f"{API}/work-orders", params={"repeat": "true"})
    assert [o["id"] for o in r.json()["items"]] == [same["id"]]


async def test_threat_to_escalate_flag_and_priority_change(world, org):
    admin = await world.login(org.t)
    order = await _create(admin, org, threatens_escalation=True)
    assert order["threatens_escalation"]
    r = await admin.patch(f"{API}/work-orders/{order['id']}", json={"priority": 4})
    assert r.status_code == 200 and r.json()["priority"] == 4
    r = await admin.get(f"{API}/work-orders", params={"escalation": "true"})
    assert len(r.json()["items"]) == 1


async def test_sub_orders_block_the_reply_until_done(world, org):
    admin = await world.login(org.t)
    oid = (await _create(admin, org, dispatch="auto"))["id"]
    r = await admin.post(
        f"{API}/work-orders/{oid}/sub-orders",
        json={"department_id": str(org.departments["网络部"]), "description": "协查基站"},
    )
    assert r.status_code == 201 and r.json()["kind"] == "sub_order" and r.json()["parent_id"] == oid
    sub = r.json()["id"]
    await admin.post(f"{API}/work-orders/{oid}/take")
    r = await admin.post(f"{API}/work-orders/{oid}/reply", json={"resolution": "resolved", "reply": "done"})
    assert r.status_code == 409 and "sub-order" in r.json()["detail"]
    await admin.post(f"{API}/work-orders/{sub}/take")
    r = await admin.post(f"{API}/work-orders/{sub}/reply", json={"resolution": "resolved", "reply": "基站正常"})
    assert r.json()["status"] == "archived"
    r = await admin.post(f"{API}/work-orders/{oid}/reply", json={"resolution": "partly_resolved", "reply": "done"})
    assert r.status_code == 200 and r.json()["status"] == "replied"


async def test_merge_and_incident_close_together(world, org):
    admin = await world.login(org.t)
    net = str(org.categories["网络质量/信号覆盖/室内无信号"])
    master = await _create(admin, org, category_id=net, title="小区信号不稳（群体）", dispatch="auto")
    members = [await _create(admin, org, category_id=net, caller=f"1390000000{i}") for i in range(3)]
    for m in members:
        r = await admin.post(f"{API}/work-orders/{m['id']}/links", json={"other_id": master["id"], "kind": "incident"})
        assert r.status_code == 201 and r.json()["master_id"] == master["id"]
    dup = await _create(admin, org, category_id=net)
    r = await admin.post(f"{API}/work-orders/{dup['id']}/merge", json={"into_id": master["id"], "reason": "重复"})
    assert r.json()["status"] == "merged" and r.json()["merged_into_id"] == master["id"]
    r = await admin.post(
        f"{API}/work-orders/{members[0]['id']}/links", json={"other_id": members[1]["id"], "kind": "incident"}
    )
    assert r.status_code == 409
    await admin.post(f"{API}/work-orders/{master['id']}/take")
    r = await admin.post(
        f"{API}/work-orders/{master['id']}/reply", json={"resolution": "resolved", "reply": "室分系统故障已修复"}
    )
    assert r.status_code == 200
    for m in members:
        got = (await admin.get(f"{API}/work-orders/{m['id']}")).json()
        assert got["status"] == "replied" and got["reply"] == "室分系统故障已修复"
    r = await admin.post(f"{API}/work-orders/{master['id']}/follow-up", json={"channel": "call"})
    assert r.status_code == 200
    for m in members:
        assert (await admin.get(f"{API}/work-orders/{m['id']}")).json()["status"] == "follow_up"


async def test_unsatisfied_follow_up_reopens(world, org):
    admin = await world.login(org.t)
    oid = (await _create(admin, org, dispatch="auto"))["id"]
    await admin.post(f"{API}/work-orders/{oid}/take")
    await admin.post(f"{API}/work-orders/{oid}/reply", json={"resolution": "unresolved", "reply": "无法处理"})
    await admin.post(f"{API}/work-orders/{oid}/follow-up", json={"channel": "call"})
    r = await admin.post(f"{API}/work-orders/{oid}/follow-up/answer", json={"answer": "unsatisfied"})
    assert r.status_code == 200 and r.json()["status"] == "accepted" and r.json()["archived_at"] is None
    r = await admin.post(f"{API}/work-orders/{oid}/follow-up/answer", json={"answer": "satisfied"})
    assert r.status_code == 409


async def test_attachments_round_trip(world, org):
    admin = await world.login(org.t)
    oid = (await _create(admin, org))["id"]
    r = await admin.post(
        f"{API}/work-orders/{oid}/attachments",
        json={"filename": "账单.txt", "content_type": "text/plain", "content_base64": "5Zu+54mH"},
    )
    assert r.status_code == 201 and r.json()["size"] == 6
    r2 = await admin.get(f"{API}/work-orders/{oid}/attachments/{r.json()['id']}")
    assert r2.content == "图片".encode() and "attachment" in r2.headers["content-disposition"]
    r = await admin.post(
        f"{API}/work-orders/{oid}/attachments",
        json={"filename": "x", "content_type": "text/plain", "content_base64": "@@@"},
    )
    assert r.status_code == 422


async def test_list_filters_and_search(world, org, clock):
    admin = await world.token_client(org.t, ALL)
    a = await _create(
        admin,
        org,
        caller="13811112222",
        title="网速很慢",
        dispatch="auto",
        category_id=str(org.categories["网络质量/上网速度/网速慢"]),
    )
    b = await _create(admin, org, title="乱扣费")
    r = await admin.get(f"{API}/work-orders", params={"q": a["number"]})
    assert [o["id"] for o in r.json()["items"]] == [a["id"]]
    r = await admin.get(f"{API}/work-orders", params={"q": "138 1111 2222"})
    assert [o["id"] for o in r.json()["items"]] == [a["id"]]
    r = await admin.get(f"{API}/work-orders", params={"q": "扣费"})
    assert [o["id"] for o in r.json()["items"]] == [b["id"]]
    r = await admin.get(f"{API}/work-orders", params={"category_id": str(org.categories["网络质量"])})
    assert [o["id"] for o in r.json()["items"]] == [a["id"]]
    r = await admin.get(
        f"{API}/work-orders", params={"status": "inbox", "department_id": str(org.departments["网络部"])}
    )
    assert [o["id"] for o in r.json()["items"]] == [a["id"]]
    r = await admin.get(f"{API}/work-orders", params={"limit": 1})
    page = r.json()
    assert [o["id"] for o in page["items"]] == [b["id"]] and page["next_after"] == b["id"]
    r = await admin.get(f"{API}/work-orders", params={"limit": 1, "after": page["next_after"]})
    assert [o["id"] for o in r.json()["items"]] == [a["id"]] and r.json()["next_after"] is None
    clock.advance(timedelta(days=3).total_seconds())
    r = await admin.get(f"{API}/work-orders", params={"overdue": "true"})
    assert {o["id"] for o in r.json()["items"]} == {a["id"], b["id"]}
