"""The early-warning API and the supervisor's board: lists, timeline, incidents, the policy, the page and
its live fragments, its forms."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from alerts.alerts_support import COMPOUND, SIGNAL, alerts_of, build_alert_org, complain, detect
from kefu.alerts.models import Incident
from kefu.core.db import bind_tenant

API = "/api/v1/t/acme"


async def _alert(world, a, n=3) -> uuid.UUID:
    await detect(world)
    for i in range(n):
        await complain(world, a, f"r{i}")
    await detect(world)
    [alert] = await alerts_of(world, a.t)
    return alert.id


async def test_alerts_and_incidents_through_the_api(world):
    a = await build_alert_org(world, history=20)
    await world.user(a.t, "banzhang", ["supervisor"])
    sup = await world.login(a.t, "banzhang")
    alert_id = await _alert(world, a, 4)

    r = await sup.get(f"{API}/alerts")
    assert r.status_code == 200
    [item] = r.json()["items"]
    assert item["id"] == str(alert_id) and item["area_path"] == COMPOUND and item["category_path"] == SIGNAL
    assert item["count"] == 4 and item["expected"] < item["count"] and item["status"] == "open"
    assert (await sup.get(f"{API}/alerts", params={"status": "closed"})).json()["items"] == []
    assert (await sup.get(f"{API}/alerts", params={"status": "nonsense"})).status_code == 422
    r = await sup.get(f"{API}/alerts/{alert_id}")
    detail = r.json()
    assert [p["kind"] for p in detail["timeline"]] == ["new", "grow"]
    assert all(p["expected"] < p["count"] for p in detail["timeline"])
    assert detail["incident"] is None

    r = await sup.post(f"{API}/alerts/{alert_id}/incident")
    assert r.status_code == 201
    incident = r.json()
    assert incident["master_number"].startswith("TS-") and incident["member_count"] == 4
    assert {m["caller"] for m in incident["members"]} == {f"139****000{i}" for i in range(4)}
    assert (await sup.get(f"{API}/alerts/{alert_id}")).json()["incident"]["id"] == incident["id"]
    r = await sup.get(f"{API}/incidents", params={"status": "open"})
    assert [i["id"] for i in r.json()["items"]] == [incident["id"]]
    assert (await sup.get(f"{API}/incidents", params={"status": "resolved"})).json()["items"] == []
    r = await sup.get(f"{API}/incidents/{incident['id']}")
    assert r.json()["handoffs_saved"] == 4 and r.json()["notices"] == {}
    r = await sup.post(
        f"{API}/incidents/{incident['id']}/resolve", json={"note": "基站故障已排除", "resolution": "resolved"}
    )
    assert r.status_code == 200
    assert r.json()["notices"] == {"sms:queued": 4}
    assert r.json()["resolution_note"] == "基站故障已排除"


async def test_pages_of_alerts_are_paginated(world):
    a = await build_alert_org(world, history=0)
    from alerts.alerts_support import make_alert

    ids = [await make_alert(world, a.t) for _ in range(3)]
    await world.user(a.t, "banzhang", ["supervisor"])
    sup = await world.login(a.t, "banzhang")
    r = await sup.get(f"{API}/alerts", params={"limit": 2})
    page = r.json()
    assert [i["id"] for i in page["items"]] == [str(ids[2]), str(ids[1])]
    r = await sup.get(f"{API}/alerts", params={"limit": 2, "after": page["next_after"]})
    assert [i["id"] for i in r.json()["items"]] == [str(ids[0])] and r.json()["next_after"] is None


async def test_the_policy_is_validated_and_audited(world):
    a = await build_alert_org(world, history=0)
    admin = await world.login(a.t)
    r = await admin.get(f"{API}/alerts-settings")
    assert r.status_code == 200 and r.json()["callback_queue"] == "回访外呼" and r.json()["auto_open_score"] is None
    before = await world.digest([a.t.id])
    for bad in (
        {"detector": {"speed": 2}},  # unknown setting
        {"detector": {"windows": [3600, 900]}},  # not increasing
        {"detector": {"cooldown": 60}},  # shorter than the longest window
        {"fixed_sms": "修复了 {name}"},  # unknown field
        {"auto_open_score": -1},
        {"nonsense": True},
    ):
        r = await admin.patch(f"{API}/alerts-settings", json=bad)
        assert r.status_code == 422, (bad, r.text)
    assert await world.digest([a.t.id]) == before
    r = await admin.patch(f"{API}/alerts-settings", json={"auto_open_score": 8, "detector": {"threshold": 6}})
    assert r.status_code == 200, r.text
    assert r.json()["auto_open_score"] == 8 and r.json()["detector"] == {"threshold": 6}
    r = await admin.patch(f"{API}/alerts-settings", json={"auto_open_score": None})
    assert r.json()["auto_open_score"] is None and r.json()["detector"] == {"threshold": 6}
    from kefu.audit.models import AuditEvent

    async with world.session() as s:
        await bind_tenant(s, a.t.id)
        changes = (
            (
                await s.execute(
                    sa.select(AuditEvent.details)
                    .where(AuditEvent.action == "settings.changed")
                    .order_by(AuditEvent.seq)
                )
            )
            .scalars()
            .all()
        )
        await s.commit()
    assert [c["alerts"]["after"]["auto_open_score"] for c in changes if "alerts" in c][-2:] == [8, None]


async def test_the_board_shows_alerts_the_tree_and_the_timeline(world):
    a = await build_alert_org(world, history=20)
    await world.user(a.t, "banzhang", ["supervisor"])
    await world.user(a.t, "agent1", ["agent"])
    sup = await world.login(a.t, "banzhang")
    alert_id = await _alert(world, a)

    r = await sup.get("/t/acme/alerts")
    assert r.status_code == 200
    html = r.text
    assert 'data-testid="alert-row"' in html and f'data-alert-id="{alert_id}"' in html
    assert 'id="alert-chart-data"' in html and '"points"' in html
    assert 'data-testid="area-tree"' in html and 'class="hot"' in html and "科技园小区" in html
    assert 'data-testid="open-incident"' in html
    assert 'data-testid="nav-alerts"' in html
    assert "<script>" not in html and " style=" not in html  # strict CSP: nothing inline
    for part in ("list", "tree", "detail"):
        r = await sup.get(f"/t/acme/alerts/part/{part}", params={"alert": str(alert_id)})
        assert r.status_code == 200 and 'hx-trigger="alerts-changed from:body"' in r.text
    assert (await sup.get("/t/acme/alerts/part/other")).status_code == 404

    agent = await world.login(a.t, "agent1")
    assert (await agent.get("/t/acme/alerts")).status_code == 403

    # the forms: open the incident, then resolve it (an empty note is refused on the page)
    r = await sup.post(f"/t/acme/alerts/{alert_id}/incident", data={"csrf_token": sup.headers["X-CSRF-Token"]})
    assert r.status_code == 303 and r.headers["location"] == f"/t/acme/alerts?alert={alert_id}"
    r = await sup.post(f"/t/acme/alerts/{alert_id}/incident", data={})
    assert r.status_code == 409 and 'data-testid="action-error"' in r.text
    async with world.session() as s:
        await bind_tenant(s, a.t.id)
        incident = (await s.execute(sa.select(Incident))).scalar_one()
        await s.commit()
    r = await sup.get("/t/acme/alerts", params={"alert": str(alert_id)})
    assert 'data-testid="incident-panel"' in r.text and 'data-testid="resolve-incident"' in r.text
    assert r.text.count('data-testid="member-row"') == 3
    r = await sup.post(f"/t/acme/incidents/{incident.id}/resolve", data={"note": " ", "resolution": "resolved"})
    assert r.status_code == 422 and 'data-testid="action-error"' in r.text
    r = await sup.post(f"/t/acme/incidents/{incident.id}/resolve", data={"note": "已修复", "resolution": "resolved"})
    assert r.status_code == 303
    r = await sup.get("/t/acme/alerts", params={"alert": str(alert_id)})
    assert 'data-testid="resolve-incident"' not in r.text and "已修复" in r.text


async def test_the_board_in_chinese_and_english(world):
    a = await build_alert_org(world, history=0)
    await world.user(a.t, "banzhang", ["supervisor"])
    sup = await world.login(a.t, "banzhang")
    r = await sup.get("/t/acme/alerts", headers={"accept-language": "zh-CN"})
    assert "投诉预警" in r.text and "Early warning" not in r.text
    r = await sup.get("/t/acme/alerts", headers={"accept-language": "en"})
    assert "Early warning" in r.text
