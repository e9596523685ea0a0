"""KPIs (DESIGN §9) on hand-built histories, exports, and pinned query counts of the list endpoints."""

from __future__ import annotations

import io
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from kefu.tenancy.rules import Permission
from workorders.wo_support import build_org

API = "/api/v1/t/acme"
SH = ZoneInfo("Asia/Shanghai")
ALL = [p.value for p in Permission]


def monday_9(clock) -> datetime:
    now = datetime.fromtimestamp(clock.now(), SH)
    day = now.date() + timedelta(days=(7 - now.weekday()) % 7 or 7)
    if day.day > 20:  # keep the whole scenario inside one month
        day = (day.replace(day=28) + timedelta(days=10)).replace(day=1)
        day += timedelta(days=(7 - day.weekday()) % 7)
    return datetime.combine(day, time(9, 0), tzinfo=SH)


async def post(client, path, body=None):
    r = await client.post(f"{API}{path}", json=body)
    assert r.status_code in (200, 201), (path, r.text)
    return r.json()


@pytest.fixture
async def scenario(world, clock):
    org = await build_org(world)
    c = await world.token_client(org.t, ALL)
    t0 = monday_9(clock)
    clock.run_until(t0.timestamp())
    net, bill = str(org.departments["网络部"]), str(org.departments["计费部"])
    fee = str(org.categories["收费争议/增值业务/不知情定制"])
    li = str(org.customers["li"])  # no VIP: the default policy (24 h around the clock)
    base = {"title": "投诉", "category_id": fee, "customer_id": li}
    # A: resolved during the call
    await post(
        c,
        "/work-orders",
        {**base, "caller": "13700000001", "resolve_now": {"resolution": "resolved", "reply": "当场解释"}},
    )
    # B: network, paused two hours, replied and followed up the same day
    b = await post(c, "/work-orders", {**base, "department_id": net})
    await post(c, f"/work-orders/{b['id']}/take")
    clock.run_until((t0 + timedelta(hours=1)).timestamp())
    await post(c, f"/work-orders/{b['id']}/pend", {"reason": "等客户"})
    clock.run_until((t0 + timedelta(hours=3)).timestamp())
    await post(c, f"/work-orders/{b['id']}/resume")
    # C: billing, handed off to network, unsatisfied, reopened, replied unresolved, no answer
    clock.run_until((t0 + timedelta(hours=4)).timestamp())
    cc = await post(c, "/work-orders", {**base, "dispatch": "auto"})
    assert cc["department_id"] == bill
    clock.run_until((t0 + timedelta(hours=5)).timestamp())
    await post(c, f"/work-orders/{cc['id']}/dispatch", {"department_id": net, "reason": "网络原因"})
    await post(c, f"/work-orders/{cc['id']}/take")
    await post(c, f"/work-orders/{cc['id']}/reply", {"resolution": "partly_resolved", "reply": "部分处理"})
    await post(c, f"/work-orders/{cc['id']}/follow-up", {"channel": "call"})
    await post(c, f"/work-orders/{cc['id']}/follow-up/answer", {"answer": "unsatisfied"})
    await post(c, f"/work-orders/{cc['id']}/dispatch", {"department_id": net})
    await post(c, f"/work-orders/{cc['id']}/take")
    clock.run_until((t0 + timedelta(hours=12)).timestamp())  # B replied and archived 12 h after it came in
    await post(c, f"/work-orders/{b['id']}/reply", {"resolution": "resolved", "reply": "已修复"})
    await post(c, f"/work-orders/{b['id']}/follow-up", {"channel": "call"})
    await post(c, f"/work-orders/{b['id']}/follow-up/answer", {"answer": "satisfied"})
    # D repeats A's problem from the same number; E is a duplicate of D, merged
    d = await post(c, "/work-orders", {**base, "caller": "13700000001"})
    e = await post(c, "/work-orders", base)
    await post(c, f"/work-orders/{e['id']}/merge", {"into_id": d["id"]})
    clock.run_until((t0 + timedelta(hours=34)).timestamp())  # C: 30 h after it came in, late
    await post(c, f"/work-orders/{cc['id']}/reply", {"resolution": "unresolved", "reply": "无法解决"})
    await post(c, f"/work-orders/{cc['id']}/follow-up", {"channel": "call"})
    await post(c, f"/work-orders/{cc['id']}/follow-up/answer", {"answer": "no_answer"})
    assert d["is_repeat"]
    return org, c, t0


async def test_kpis_follow_the_definitions(world, scenario):
    org, c, t0 = scenario
    month = t0.date().replace(day=1)
    r = await c.get(f"{API}/kpis", params={"from": month.isoformat()})
    assert r.status_code == 200, r.text
    total = r.json()["total"]
    counts, m = total["counts"], total["metrics"]
    assert counts["complaints"] == 4  # A, B, C, D (E merged)
    # C repeats B (the customer's number, same problem class) and D repeats A (same calling number)
    assert (counts["intercepted"], counts["resolved"], counts["repeat"]) == (1, 2, 2)
    assert (counts["archived"], counts["on_time"]) == (3, 2)
    assert (counts["answers"], counts["satisfied"]) == (2, 1)  # no answer is not counted
    assert counts["handoffs"] == 1 and counts["lifetime_handoffs"] == 1
    assert counts["handling_seconds"] == (0 + 10 + 30) * 3600  # B paused 2 h
    assert m["interception_rate"] == 0.25 and m["resolution_rate"] == 0.5 and m["repeat_rate"] == 0.5
    assert m["on_time_rate"] == round(2 / 3, 4) and m["satisfaction"] == 0.5
    assert m["avg_handling_hours"] == round(40 / 3, 4)
    # night hours (22:00-08:00) excluded: C ran 13:00 Monday → 19:00 Tuesday, 10 night hours
    assert counts["handling_day_seconds"] == (0 + 10 + 20) * 3600

    r = await c.get(f"{API}/kpis", params={"from": month.isoformat(), "group_by": "department"})
    rows = {row["label"]: row["counts"] for row in r.json()["rows"]}
    assert rows["网络部"]["archived"] == 2 and rows["网络部"]["handling_seconds"] == 40 * 3600
    assert rows["网络部"]["handoffs"] == 1
    r = await c.get(f"{API}/kpis/dashboard", params={"from": month.isoformat()})
    dash = r.json()
    assert dash["groups"]["total"] == total and dash["days"]["total"] == total
    assert {row["label"]: row["counts"] for row in dash["groups"]["rows"]} == rows
    r = await c.get(f"{API}/kpis", params={"from": month.isoformat(), "group_by": "category"})
    assert [row["key"] for row in r.json()["rows"]] == ["收费争议"]
    r = await c.get(f"{API}/kpis", params={"from": month.isoformat(), "group_by": "day"})
    days = {row["key"]: row["counts"]["complaints"] for row in r.json()["rows"]}
    assert days[t0.date().isoformat()] == 4


async def test_exports(world, scenario):
    from openpyxl import load_workbook

    org, c, t0 = scenario
    month = t0.date().replace(day=1).isoformat()
    r = await c.get(f"{API}/kpis/export", params={"from": month, "group_by": "department"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    text = r.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("key,label,complaints") and "网络部" in text
    r = await c.get(f"{API}/kpis/export", params={"from": month, "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet.cell(2, 1).value == "key" and sheet.max_row >= 4


async def test_bad_kpi_periods(world, scenario):
    _org, c, _t0 = scenario
    r = await c.get(f"{API}/kpis", params={"from": "2026-02-01", "to": "2026-01-01"})
    assert r.status_code == 422
    r = await c.get(f"{API}/kpis", params={"from": "2024-01-01", "to": "2026-01-01"})
    assert r.status_code == 422 and "366" in r.json()["detail"]


class StatementCounter:
    def __init__(self, engine):
        self.engine = engine.sync_engine
        self.count = 0

    def __call__(self, *args):
        self.count += 1

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self)


async def test_list_endpoints_run_a_fixed_number_of_statements(world):
    org = await build_org(world)
    c = await world.login(org.t)
    fee = str(org.categories["收费争议/增值业务/不知情定制"])

    async def count(path, params=None):
        with StatementCounter(world.ctx.services["engine"]) as counter:
            r = await c.get(f"{API}{path}", params=params)
            assert r.status_code == 200, r.text
        return counter.count

    async def add(n):
        for _ in range(n):
            await post(
                c, "/work-orders", {"title": "x", "category_id": fee, "caller": "13812340000", "dispatch": "auto"}
            )

    await add(2)
    small = {
        p: await count(p, q)
        for p, q in (
            ("/work-orders", None),
            ("/work-orders", {"category_id": fee, "status": "open"}),
            ("/work-orders", {"q": "13812340000"}),
            ("/refunds", None),
            ("/work-order-categories", None),
            ("/customers", None),
        )
    }
    await add(12)
    large = {
        p: await count(p, q)
        for p, q in (
            ("/work-orders", None),
            ("/work-orders", {"category_id": fee, "status": "open"}),
            ("/work-orders", {"q": "13812340000"}),
            ("/refunds", None),
            ("/work-order-categories", None),
            ("/customers", None),
        )
    }
    assert small == large
    # session and tenant checks, then exactly one statement for the page (two with a category subtree)
    base = await count("/work-order-categories")
    assert await count("/work-orders") == base
    assert await count("/work-orders", {"category_id": fee}) == base + 1
