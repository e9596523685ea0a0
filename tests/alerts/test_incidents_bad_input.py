"""Incidents refuse what makes no sense with a clear 4xx and change nothing: resolving twice, opening twice
or from a closed alert, another tenant's ids, empty notes, missing permissions."""

from __future__ import annotations

import uuid
from datetime import timedelta

from alerts.alerts_support import alerts_of, build_alert_org, complain, detect

API = "/api/v1/t/acme"


async def _burst(world, a, n: int = 3) -> uuid.UUID:
    await detect(world)
    for i in range(n):
        await complain(world, a, f"r{i}")
    await detect(world)
    [alert] = await alerts_of(world, a.t)
    return alert.id


async def _problem(r, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    if code:
        assert body["type"].endswith(code), body
    return body


async def test_resolving_twice_and_opening_twice_are_conflicts_that_change_nothing(world):
    a = await build_alert_org(world, history=20)
    await world.user(a.t, "banzhang", ["supervisor"])
    sup = await world.login(a.t, "banzhang")
    alert_id = await _burst(world, a)
    r = await sup.post(f"{API}/alerts/{alert_id}/incident")
    assert r.status_code == 201
    incident_id = r.json()["id"]

    before = await world.digest([a.t.id])
    body = await _problem(await sup.post(f"{API}/alerts/{alert_id}/incident"), 409, "incident-exists")
    assert "already has an incident" in body["detail"]
    assert await world.digest([a.t.id]) == before

    for bad in ({"note": ""}, {"note": "   "}, {"note": "ok", "resolution": "fixed"}, {"note": "ok", "extra": 1}):
        await _problem(await sup.post(f"{API}/incidents/{incident_id}/resolve", json=bad), 422)
    assert await world.digest([a.t.id]) == before

    r = await sup.post(f"{API}/incidents/{incident_id}/resolve", json={"note": "已修复"})
    assert r.status_code == 200, r.text
    after = await world.digest([a.t.id])
    body = await _problem(
        await sup.post(f"{API}/incidents/{incident_id}/resolve", json={"note": "再次"}), 409, "incident-resolved"
    )
    assert "already resolved" in body["detail"]
    assert await world.digest([a.t.id]) == after

    # once resolved, the incident takes no new complaints: the next one is dispatched as usual
    order = await complain(world, a, "r5", dispatch=True)
    r = await sup.get(f"{API}/work-orders/{order.id}")
    assert r.json()["master_id"] is None and r.json()["status"] == "dispatched"


async def test_an_alert_closed_by_its_cool_down_cannot_open_an_incident(world):
    a = await build_alert_org(world, history=20)
    await world.user(a.t, "banzhang", ["supervisor"])
    alert_id = await _burst(world, a)
    world.ctx.clock.advance(timedelta(days=3).total_seconds())
    sup = await world.login(a.t, "banzhang")
    result = await detect(world)
    assert result.closed_alerts == 1
    [alert] = await alerts_of(world, a.t)
    assert alert.status == "closed" and alert.closed_at is not None
    before = await world.digest([a.t.id])
    body = await _problem(await sup.post(f"{API}/alerts/{alert_id}/incident"), 409, "alert-closed")
    assert "closed" in body["detail"]
    assert await world.digest([a.t.id]) == before


async def test_another_tenants_alerts_and_incidents_are_not_found(world):
    a = await build_alert_org(world, history=20)
    b = await world.tenant("beta")
    await world.user(a.t, "banzhang", ["supervisor"])
    await world.user(b, "boss", ["supervisor"])
    sup_a = await world.login(a.t, "banzhang")
    sup_b = await world.login(b, "boss")
    alert_id = await _burst(world, a)
    incident_id = (await sup_a.post(f"{API}/alerts/{alert_id}/incident")).json()["id"]
    before = await world.digest([a.t.id, b.id])
    beta = "/api/v1/t/beta"
    for method, path, body in [
        ("GET", f"{beta}/alerts/{alert_id}", None),
        ("POST", f"{beta}/alerts/{alert_id}/incident", None),
        ("GET", f"{beta}/incidents/{incident_id}", None),
        ("POST", f"{beta}/incidents/{incident_id}/resolve", {"note": "已修复"}),
        ("POST", f"{beta}/incidents/{uuid.uuid4()}/resolve", {"note": "已修复"}),
    ]:
        await _problem(await sup_b.request(method, path, json=body), 404)
    r = await sup_b.get(f"{beta}/alerts")
    assert r.status_code == 200 and r.json()["items"] == []
    # acme's URL with beta's session: not signed in there
    r = await sup_b.get(f"{API}/alerts/{alert_id}")
    assert r.status_code == 401
    assert await world.digest([a.t.id, b.id]) == before


async def test_agents_may_not_open_or_resolve_incidents(world):
    a = await build_alert_org(world, history=20)
    await world.user(a.t, "agent1", ["agent"])
    agent = await world.login(a.t, "agent1")
    alert_id = await _burst(world, a)
    before = await world.digest([a.t.id])
    body = await _problem(await agent.post(f"{API}/alerts/{alert_id}/incident"), 403)
    assert "incidents.manage" in body["detail"]
    await _problem(await agent.get(f"{API}/alerts"), 403)
    assert await world.digest([a.t.id]) == before
