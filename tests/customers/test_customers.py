"""Customers: PII encrypted at rest, masked by default, justified and logged views, audited reveals."""

from __future__ import annotations

import sqlalchemy as sa

from kefu.audit.models import AccessLogEntry
from kefu.core.actor import Actor, ActorKind
from kefu.core.db import bind_tenant
from kefu.customers import find_by_phone
from kefu.customers.models import Customer, CustomerPhone
from kefu.tenancy.rules import permissions_for

NEW = {
    "name": "张伟",
    "phones": ["138 1234 1234"],
    "id_number": "110101199003071234",
    "address": "广东省深圳市南山区科技园1号",
    "plan": "畅享 128",
    "star_level": 5,
    "credit_rating": "AA",
}


async def _access_rows(world, t):
    async with world.session() as s:
        await bind_tenant(s, t.id)
        return list(
            (
                await s.execute(sa.select(AccessLogEntry).order_by(AccessLogEntry.occurred_at, AccessLogEntry.seq))
            ).scalars()
        )


async def test_records_are_encrypted_masked_and_found_by_phone(world):
    t = await world.tenant("acme")
    await world.user(t, "agent1", ["agent"])
    agent = await world.login(t, "agent1")
    r = await agent.post("/api/v1/t/acme/customers", json=NEW)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["phones"] == ["138****1234"] and body["name"] == "张*"
    assert body["id_number"] == "1101**********1234" and "科技园" not in body["address"]
    cid = body["id"]
    async with world.session() as s:  # nothing in clear at rest
        await bind_tenant(s, t.id)
        row = (await s.execute(sa.select(Customer))).scalar_one()
        phone = (await s.execute(sa.select(CustomerPhone))).scalar_one()
    assert "张伟" not in (row.name_enc or "") and "13812341234" not in phone.phone_enc
    assert len(phone.phone_index) == 64

    # screen pop by the calling number, justified by the call
    call_id = "0190a0c0-0000-7000-8000-00000000c411"
    r = await agent.get(
        "/api/v1/t/acme/customers",
        params={"phone": "+8613812341234", "justification_type": "call", "justification_id": call_id},
    )
    assert r.status_code == 200 and [c["id"] for c in r.json()["items"]] == [cid]
    assert "13812341234" not in r.text
    # opening the record needs a reason or an interaction
    r = await agent.get(f"/api/v1/t/acme/customers/{cid}")
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    r = await agent.get(
        f"/api/v1/t/acme/customers/{cid}", params={"justification_type": "call", "justification_id": call_id}
    )
    assert r.status_code == 200 and r.json()["phones"] == ["138****1234"]
    rows = await _access_rows(world, t)
    assert [(x.action, x.justification_type, x.justification_id) for x in rows] == [
        ("search", "call", call_id),
        ("view", "call", call_id),
    ]
    assert rows[0].details["result_count"] == 1


async def test_reveal_needs_the_right_role_and_a_reason_and_is_logged(world):
    t = await world.tenant("acme")
    await world.user(t, "agent1", ["agent"])
    await world.user(t, "boss", ["supervisor"])
    agent = await world.login(t, "agent1")
    boss = await world.login(t, "boss")
    cid = (await agent.post("/api/v1/t/acme/customers", json=NEW)).json()["id"]
    before = await world.digest([t.id])
    r = await agent.post(f"/api/v1/t/acme/customers/{cid}/reveal", json={"fields": ["phones"], "reason": "核对号码"})
    assert r.status_code == 403 and "customers.reveal" in r.json()["detail"]
    r = await boss.post(f"/api/v1/t/acme/customers/{cid}/reveal", json={"fields": ["phones"], "reason": "x"})
    assert r.status_code == 422
    assert await world.digest([t.id]) == before
    r = await boss.post(
        f"/api/v1/t/acme/customers/{cid}/reveal",
        json={"fields": ["phones", "name", "id_number"], "reason": "客户要求核对登记信息"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["fields"] == {"phones": ["+8613812341234"], "name": "张伟", "id_number": "110101199003071234"}
    reveal = [x for x in await _access_rows(world, t) if x.action == "reveal"]
    assert len(reveal) == 1 and reveal[0].reason == "客户要求核对登记信息"
    assert reveal[0].details == {"fields": ["id_number", "name", "phones"]} and reveal[0].actor_name == "boss"


async def test_agents_cannot_reveal_by_default_and_admins_do_not_either():
    assert "customers.reveal" not in permissions_for(["agent"])
    assert "customers.reveal" not in permissions_for(["tenant_admin"])
    assert "customers.reveal" in permissions_for(["supervisor"])


async def test_find_by_phone_for_the_agent_desktop_records_the_call(world):
    t = await world.tenant("acme")
    agent = await world.login(t)
    cid = (await agent.post("/api/v1/t/acme/customers", json=NEW)).json()["id"]
    actor = Actor(ActorKind.USER, t.id, t.admin.id, "admin", permissions_for(["agent"]))
    async with world.session() as s:
        await bind_tenant(s, t.id)
        view = await find_by_phone(
            s, actor, "13812341234", justification_type="call", justification_id="0190a0c0-0000-7000-8000-00000000c412"
        )
        missing = await find_by_phone(
            s, actor, "13700000000", justification_type="call", justification_id="0190a0c0-0000-7000-8000-00000000c412"
        )
        await s.commit()
    assert view is not None and str(view.id) == cid and view.phones == ["138****1234"]
    assert missing is None
    rows = await _access_rows(world, t)
    assert [(x.action, x.resource_id is not None) for x in rows] == [("view", True), ("search", False)]


async def test_bad_input_changes_nothing(world):
    t = await world.tenant("acme")
    admin = await world.login(t)
    before = await world.digest([t.id])
    for bad in (
        {**NEW, "phones": ["not a phone"]},
        {**NEW, "credit_rating": "Z"},
        {**NEW, "star_level": 9},
        {**NEW, "customer_since": "2020-01-01T00:00:00"},
        {**NEW, "colour": "red"},
    ):
        r = await admin.post("/api/v1/t/acme/customers", json=bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert await world.digest([t.id]) == before
    await admin.post("/api/v1/t/acme/customers", json=NEW)
    r = await admin.post("/api/v1/t/acme/customers", json={**NEW, "name": "别人"})
    assert r.status_code == 409 and "138****1234" in r.json()["detail"]
