"""Refund first, verify later: each authority branch, budgets, four eyes, reversal, and the budget race."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from kefu.audit.models import AuditEvent
from kefu.billing.models import CreditNote
from kefu.core.db import bind_tenant
from kefu.workorders.models import RefundBudget
from workorders.wo_support import build_org

API = "/api/v1/t/acme"
VAS_35 = {"amount": "35.00", "charge_type": "value_added_service", "description": "彩铃功能费"}
REFUND_FIRST = {
    "name": "增值业务小额先退后查",
    "position": 10,
    "outcome": "approve",
    "conditions": [
        {"field": "charge.type", "op": "==", "value": "value_added_service"},
        {"field": "charge.amount", "op": "<=", "value": 50},
        {"field": "customer.credit_rating", "op": ">=", "value": "A"},
        {"field": "customer.star_level", "op": ">=", "value": 3},
        {"field": "history.refunds_12m", "op": "<", "value": 2},
    ],
}
TOO_MANY = {
    "name": "频繁退费拒绝",
    "position": 5,
    "outcome": "refuse",
    "conditions": [{"field": "history.refunds_12m", "op": ">=", "value": 2}],
}


@pytest.fixture
async def org(world):
    org = await build_org(world)
    admin = await world.login(org.t)
    for policy in (REFUND_FIRST, TOO_MANY):
        r = await admin.post(f"{API}/authority-policies", json=policy)
        assert r.status_code == 201, r.text
    center = org.departments["投诉处理中心"]
    await world.user(org.t, "agent1", ["agent"], department_id=center)
    await world.user(org.t, "agent2", ["agent"], department_id=center)
    await world.user(org.t, "boss", ["supervisor"], department_id=center)
    await world.user(org.t, "boss2", ["supervisor"], department_id=center)
    org.admin = admin
    return org


async def _order(client, org, customer="zhang"):
    r = await client.post(
        f"{API}/work-orders",
        json={
            "title": "不知情定制",
            "category_id": str(org.categories["收费争议/增值业务/不知情定制"]),
            "customer_id": str(org.customers[customer]),
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _rows(world, org, model):
    async with world.session() as s:
        await bind_tenant(s, org.t.id)
        return list((await s.execute(sa.select(model))).scalars())


async def test_good_customer_small_vas_charge_is_refunded_now_and_verified_later(world, org):
    agent = await world.login(org.t, "agent1")
    oid = await _order(agent, org)
    r = await agent.post(f"{API}/work-orders/{oid}/refunds", json=VAS_35)
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["outcome"] == "approved" and d["rule_name"] == "增值业务小额先退后查"
    assert "customer.credit_rating = 'AA' >= 'A'" in d["explanation"]["why"]
    assert d["explanation"]["considered"] == [{"rule": "频繁退费拒绝", "failed": "history.refunds_12m = 0 >= 2"}]
    notes = await _rows(world, org, CreditNote)
    assert [(n.amount_cents, n.reference_id) for n in notes] == [(3500, d["id"])]
    sub = (await agent.get(f"{API}/work-orders/{d['verification_order_id']}")).json()
    assert sub["kind"] == "verification" and sub["parent_id"] == oid
    assert sub["department_id"] == str(org.departments["计费部"]) and sub["status"] == "dispatched"
    actions = [e.action for e in await _rows(world, org, AuditEvent)]
    assert "refund.approved" in actions
    # billing finds the charge was valid: the credit is reversed
    admin = org.admin
    await admin.post(f"{API}/work-orders/{sub['id']}/take")
    r = await admin.post(
        f"{API}/work-orders/{sub['id']}/reply",
        json={"resolution": "resolved", "reply": "用户确有订购记录", "verification_result": "charge_valid"},
    )
    assert r.status_code == 200 and r.json()["status"] == "archived"
    assert sorted(n.amount_cents for n in await _rows(world, org, CreditNote)) == [-3500, 3500]


async def test_no_matching_policy_goes_to_a_supervisor_who_is_not_the_requester(world, org):
    boss = await world.login(org.t, "boss")
    oid = await _order(boss, org, customer="li")  # credit C
    r = await boss.post(f"{API}/work-orders/{oid}/refunds", json=VAS_35)
    d = r.json()
    assert d["outcome"] == "pending_approval" and d["rule_name"] == "default"
    assert await _rows(world, org, CreditNote) == []
    agent = await world.login(org.t, "agent1")
    before = await world.digest([org.t.id])
    r = await boss.post(f"{API}/refunds/{d['id']}/decision", json={"approve": True})
    assert r.status_code == 403 and "four eyes" in r.json()["detail"]
    r = await agent.post(f"{API}/refunds/{d['id']}/decision", json={"approve": True})
    assert r.status_code == 403
    assert await world.digest([org.t.id]) == before
    boss2 = await world.login(org.t, "boss2")
    r = await boss2.post(f"{API}/refunds/{d['id']}/decision", json={"approve": True, "note": "同意"})
    assert r.status_code == 200 and r.json()["outcome"] == "approved_by_supervisor"
    assert len(await _rows(world, org, CreditNote)) == 1
    r = await boss2.post(f"{API}/refunds/{d['id']}/decision", json={"approve": False})
    assert r.status_code == 409


async def test_frequent_refunds_are_refused_with_the_reason(world, org):
    agent = await world.login(org.t, "agent1")
    for _ in range(2):
        r = await agent.post(f"{API}/work-orders/{await _order(agent, org)}/refunds", json={**VAS_35, "amount": "5.00"})
        assert r.json()["outcome"] == "approved"
    r = await agent.post(f"{API}/work-orders/{await _order(agent, org)}/refunds", json={**VAS_35, "amount": "5.00"})
    d = r.json()
    assert d["outcome"] == "refused" and d["rule_name"] == "频繁退费拒绝"
    assert d["explanation"]["why"] == ["history.refunds_12m = 2 >= 2"]


async def test_over_budget_is_refused_and_changes_nothing(world, org):
    r = await org.admin.patch(f"{API}/work-order-config", json={"agent_daily_budget_cents": 5000})
    assert r.status_code == 200
    agent = await world.login(org.t, "agent1")
    first = await agent.post(f"{API}/work-orders/{await _order(agent, org)}/refunds", json=VAS_35)
    assert first.json()["outcome"] == "approved"
    oid = await _order(agent, org, customer="zhang")
    before = await world.digest([org.t.id])
    r = await agent.post(f"{API}/work-orders/{oid}/refunds", json=VAS_35)
    assert r.status_code == 409 and r.json()["type"].endswith("over-budget") and r.json()["remaining"] == 15.0
    assert await world.digest([org.t.id]) == before


async def test_policies_naming_unknown_fields_are_refused(world, org):
    before = await world.digest([org.t.id])
    for conditions in (
        [{"field": "customer.shoe_size", "op": "<", "value": 40}],
        [{"field": "charge.amount", "op": "~", "value": 1}],
        [{"field": "charge.amount", "op": "<", "value": "many"}],
        [{"field": "customer.credit_rating", "op": ">=", "value": "A+"}],
        [{"field": "charge.type", "op": "==", "value": "gold"}],
    ):
        r = await org.admin.post(
            f"{API}/authority-policies", json={"name": "bad", "outcome": "approve", "conditions": conditions}
        )
        assert r.status_code == 422, r.text
    assert await world.digest([org.t.id]) == before
    agent = await world.login(org.t, "agent1")
    oid = await _order(agent, org)
    before = await world.digest([org.t.id])
    for body in (
        {**VAS_35, "amount": "-3"},
        {**VAS_35, "amount": "1.234"},
        {**VAS_35, "charge_type": "gold"},
        {**VAS_35, "charged_at": "2026-01-01T00:00:00"},
    ):
        r = await agent.post(f"{API}/work-orders/{oid}/refunds", json=body)
        assert r.status_code == 422, (body, r.text)
    assert await world.digest([org.t.id]) == before


async def test_two_agents_spending_the_last_of_one_team_budget_at_once(world, org):
    r = await org.admin.patch(f"{API}/work-order-config", json={"team_daily_budget_cents": 5000})
    assert r.status_code == 200
    a1 = await world.login(org.t, "agent1")
    a2 = await world.login(org.t, "agent2")
    o1, o2 = await _order(a1, org), await _order(a2, org)
    r1, r2 = await asyncio.gather(
        a1.post(f"{API}/work-orders/{o1}/refunds", json=VAS_35), a2.post(f"{API}/work-orders/{o2}/refunds", json=VAS_35)
    )
    codes = sorted([r1.status_code, r2.status_code])
    assert codes == [201, 409], (r1.text, r2.text)
    loser = r1 if r1.status_code == 409 else r2
    assert "team daily refund budget" in loser.json()["detail"]
    assert [n.amount_cents for n in await _rows(world, org, CreditNote)] == [3500]
    team = [b for b in await _rows(world, org, RefundBudget) if b.scope == "team"]
    assert [(b.period, b.spent_cents) for b in sorted(team, key=lambda b: b.period)] == [("day", 3500)]
