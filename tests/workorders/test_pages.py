"""Work-order pages: agent desktop hand-off, detail and actions, inbox, KPI dashboard, settings."""

from __future__ import annotations

import re

import sqlalchemy as sa

from kefu.audit.models import AccessLogEntry
from kefu.core.db import bind_tenant
from support import PASSWORD
from workorders.wo_support import build_org

CALL = "0190a0c0-0000-7000-8000-00000000ca11"


def _field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} field"
    return match.group(1)


async def _browser(world, username="admin"):
    c = world.client()
    page = await c.get("/t/acme/login")
    r = await c.post(
        "/t/acme/login",
        data={"username": username, "password": PASSWORD, "csrf_token": _field(page.text, "csrf_token")},
    )
    assert r.status_code == 303
    return c


async def test_agent_desktop_hand_off_to_detail(world):
    org = await build_org(world)
    await world.user(org.t, "agent1", ["agent"], department_id=org.departments["投诉处理中心"])
    c = await _browser(world, "agent1")
    page = await c.get("/t/acme/workorders/new", params={"call_id": CALL, "caller": "+8613812341234"})
    assert page.status_code == 200, page.text
    assert 'data-testid="customer-name">张*<' in page.text and "13812341234" not in page.text
    token = _field(page.text, "csrf_token")
    customer_id = _field(page.text, "customer_id")
    form = {
        "csrf_token": token,
        "title": "彩铃扣费",
        "category_id": str(org.categories["收费争议/增值业务/不知情定制"]),
        "call_id": CALL,
        "caller_token": _field(page.text, "caller_token"),
        "customer_id": customer_id,
        "outcome": "auto",
        "priority": "2",
        "channel": "phone",
        "description": "客户称未订购",
    }
    r = await c.post("/t/acme/workorders/new", data=form)
    assert r.status_code == 303, r.text
    detail = await c.get(r.headers["location"])
    assert detail.status_code == 200
    assert "计费部" in detail.text and 'data-action="dispatch"' in detail.text
    assert "138****1234" in detail.text and "13812341234" not in detail.text
    number = re.search(r'data-testid="order-number">([^<]+)<', detail.text).group(1)
    r = await (await world.login(org.t)).get("/api/v1/t/acme/work-orders", params={"q": "13812341234"})
    assert [o["number"] for o in r.json()["items"]] == [number]  # the caller came through sealed
    async with world.session() as s:
        await bind_tenant(s, org.t.id)
        rows = (await s.execute(sa.select(AccessLogEntry).order_by(AccessLogEntry.seq))).scalars().all()
    assert [(r.action, r.justification_type) for r in rows] == [("view", "call"), ("view", "work_order")]
    assert rows[0].justification_id == CALL
    # a form error is shown in the form and creates nothing
    r = await c.post("/t/acme/workorders/new", data={**form, "outcome": "resolve", "reply": ""})
    assert r.status_code == 422 and 'data-testid="form-error"' in r.text


async def test_detail_actions_and_errors(world):
    org = await build_org(world)
    c = await _browser(world)
    api = await world.login(org.t)
    order = (
        await api.post(
            "/api/v1/t/acme/work-orders",
            json={
                "title": "网速慢",
                "category_id": str(org.categories["网络质量/上网速度/网速慢"]),
                "dispatch": "auto",
            },
        )
    ).json()
    page = await c.get(f"/t/acme/workorders/{order['id']}")
    token = _field(page.text, "csrf_token")
    url = f"/t/acme/workorders/{order['id']}/act"
    r = await c.post(url, data={"csrf_token": token, "op": "archive"})
    assert r.status_code == 409 and 'data-testid="action-error"' in r.text
    r = await c.post(url, data={"csrf_token": token, "op": "take"})
    assert r.status_code == 303
    r = await c.post(url, data={"csrf_token": token, "op": "reply", "resolution": "resolved", "reply": "已优化"})
    assert r.status_code == 303
    page = await c.get(f"/t/acme/workorders/{order['id']}")
    assert 'data-action="reply"' in page.text and "已优化" in page.text
    r = await c.post(url, data={"op": "take"})  # no CSRF token
    assert r.status_code == 403


async def test_inbox_kpis_and_settings_pages(world):
    org = await build_org(world)
    await world.user(org.t, "net1", ["back_office"], department_id=org.departments["网络部"])
    api = await world.login(org.t)
    await api.post(
        "/api/v1/t/acme/work-orders",
        json={
            "title": "没有信号",
            "category_id": str(org.categories["网络质量/信号覆盖/室内无信号"]),
            "dispatch": "auto",
        },
    )
    handler = await _browser(world, "net1")
    inbox = await handler.get("/t/acme/workorders/inbox")
    assert inbox.status_code == 200 and "没有信号" in inbox.text
    assert (await handler.get("/t/acme/admin/workorders")).status_code == 403
    admin = await _browser(world)
    kpi = await admin.get("/t/acme/workorders/kpis")
    assert kpi.status_code == 200 and 'id="kpi-data"' in kpi.text and 'data-testid="kpi-complaints">1<' in kpi.text
    assert "<script>" not in kpi.text  # data only; the chart code is a static file (CSP)
    settings = await admin.get("/t/acme/admin/workorders")
    assert settings.status_code == 200 and "网络质量" in settings.text
    token = _field(settings.text, "csrf_token")
    r = await admin.post("/t/acme/admin/workorders", data={"csrf_token": token, "op": "category", "name": "携号转网"})
    assert r.status_code == 200 and 'data-testid="admin-saved"' in r.text and "携号转网" in r.text
    r = await admin.post(
        "/t/acme/admin/workorders",
        data={
            "csrf_token": token,
            "op": "authority",
            "name": "坏规则",
            "conditions": '[{"field": "x", "op": "<", "value": 1}]',
        },
    )
    assert r.status_code == 422 and "unknown field" in r.text
    r = await admin.post(
        "/t/acme/admin/workorders", data={"csrf_token": token, "op": "sla", "name": "坏", "conditions": "{not json"}
    )
    assert r.status_code == 422
