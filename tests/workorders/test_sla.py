"""SLA: policy selection, business-calendar deadlines, pauses replayed from history, the batch scanner,
permanent breach events, escalations, recomputation after a policy change, the 15-day outer limit."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from kefu.core.db import bind_tenant
from kefu.tenancy.rules import Permission
from kefu.workorders import jobs
from kefu.workorders.models import SlaEvent, WorkOrder
from workorders.wo_support import build_org

API = "/api/v1/t/acme"
SH = ZoneInfo("Asia/Shanghai")
ALL = [p.value for p in Permission]


def next_monday_9(clock) -> datetime:
    now = datetime.fromtimestamp(clock.now(), SH)
    day = now.date() + timedelta(days=(7 - now.weekday()) % 7 or 7)
    return datetime.combine(day, time(9, 0), tzinfo=SH)


def at(clock, when: datetime) -> None:
    clock.run_until(when.timestamp())


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(SH)


@pytest.fixture
async def setup(world, clock):
    org = await build_org(world)
    await world.user(org.t, "boss", ["supervisor"])
    client = await world.token_client(org.t, ALL)
    monday = next_monday_9(clock)
    at(clock, monday)
    async with world.session() as s:  # make 张伟 a VIP
        await bind_tenant(s, org.t.id)
        from kefu.customers.models import Customer

        await s.execute(sa.update(Customer).where(Customer.id == org.customers["zhang"]).values(vip=True))
        await s.commit()
    return org, client, monday


async def _create(client, org, customer="zhang"):
    r = await client.post(
        f"{API}/work-orders",
        json={
            "title": "投诉",
            "category_id": str(org.categories["收费争议/增值业务/不知情定制"]),
            "customer_id": str(org.customers[customer]),
            "dispatch": "auto",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _events(world, org, order_id):
    async with world.session() as s:
        await bind_tenant(s, org.t.id)
        rows = (
            (
                await s.execute(
                    sa.select(SlaEvent)
                    .where(SlaEvent.order_id == uuid.UUID(order_id))
                    .order_by(SlaEvent.occurred_at, SlaEvent.kind)
                )
            )
            .scalars()
            .all()
        )
    return [(e.kind, e.target) for e in rows]


async def test_policy_selection_and_calendar_deadlines(world, clock, setup):
    org, client, monday = setup
    vip = await _create(client, org)
    plain = await _create(client, org, customer="li")
    assert parse(vip["response_due_at"]) == monday + timedelta(minutes=30)
    # 8 working hours: Monday 09-12 and 13:30-18 (7.5 h), then Tuesday 09:00-09:30
    assert parse(vip["resolution_due_at"]) == monday + timedelta(days=1, minutes=30)
    # the default policy has no calendar: 24 h around the clock
    assert parse(plain["resolution_due_at"]) == monday + timedelta(hours=24)
    assert parse(plain["outer_due_at"]) == monday + timedelta(days=15)
    assert parse(vip["next_deadline_at"]) == monday + timedelta(minutes=24)  # 80 % of the response target


async def test_pausing_for_the_customer_moves_the_deadline(world, clock, setup):
    org, client, monday = setup
    oid = (await _create(client, org))["id"]
    at(clock, monday + timedelta(minutes=10))
    await client.post(f"{API}/work-orders/{oid}/take")
    at(clock, monday + timedelta(hours=1))
    r = await client.post(f"{API}/work-orders/{oid}/pend", json={"reason": "等客户提供账单"})
    assert r.json()["resolution_due_at"] is None and r.json()["next_deadline_at"] is not None  # outer limit runs on
    at(clock, monday + timedelta(hours=5))  # Monday 14:00; paused 10:00-12:00 and 13:30-14:00 = 2.5 working hours
    r = await client.post(f"{API}/work-orders/{oid}/resume")
    assert parse(r.json()["resolution_due_at"]) == monday + timedelta(days=1, hours=3)  # Tuesday 12:00
    detail = (await client.get(f"{API}/work-orders/{oid}")).json()
    assert detail["paused_seconds"] == 4 * 3600


async def test_scanner_records_warnings_breaches_and_escalates_once(world, clock, setup):
    org, client, monday = setup
    vip = await _create(client, org)
    others = [await _create(client, org, customer="li") for _ in range(5)]
    at(clock, monday + timedelta(minutes=20))
    result = await jobs.run_once(world.ctx)
    assert (result.orders, result.warnings, result.breaches) == (0, 0, 0)
    at(clock, monday + timedelta(minutes=25))
    result = await jobs.run_once(world.ctx)
    assert (result.orders, result.warnings, result.breaches) == (1, 1, 0)  # only the due order is touched
    at(clock, monday + timedelta(minutes=31))
    result = await jobs.run_once(world.ctx)
    assert (result.orders, result.breaches) == (1, 1)
    assert await _events(world, org, vip["id"]) == [("warning", "response"), ("breach", "response")]
    detail = (await client.get(f"{API}/work-orders/{vip['id']}")).json()
    assert detail["priority"] == 3  # raised from normal
    boss = next(u for u in (await client.get(f"{API}/users")).json()["items"] if u["username"] == "boss")
    assert detail["assignee_id"] == boss["id"]
    escalated = [h["details"]["action"] for h in detail["history"] if h["action"] == "escalated"]
    assert sorted(escalated) == ["notify", "raise_priority", "reassign_supervisor"]
    # running again changes nothing
    assert (await jobs.run_once(world.ctx)).orders == 0
    # the breach is permanent: answering and archiving does not remove it
    await client.post(f"{API}/work-orders/{vip['id']}/take")
    await client.post(f"{API}/work-orders/{vip['id']}/reply", json={"resolution": "resolved", "reply": "ok"})
    await client.post(f"{API}/work-orders/{vip['id']}/archive")
    assert ("breach", "response") in await _events(world, org, vip["id"])
    for o in others:
        assert await _events(world, org, o["id"]) == []


async def test_changing_a_policy_recomputes_open_orders_from_history(world, clock, setup):
    org, client, monday = setup
    oid = (await _create(client, org))["id"]
    r = await client.put(
        f"{API}/sla-policies/{org.policies['vip']}",
        json={
            "name": "VIP",
            "position": 10,
            "conditions": {"vip": True},
            "response_minutes": 30,
            "resolution_minutes": 240,
            "calendar_id": str(org.calendar_id),
        },
    )
    assert r.status_code == 200, r.text
    got = (await client.get(f"{API}/work-orders/{oid}")).json()
    assert parse(got["resolution_due_at"]) == monday + timedelta(hours=5, minutes=30)  # 09-12 + 13:30-14:30 … 4 h


async def test_outer_limit_breaches_after_fifteen_days(world, clock, setup):
    org, client, monday = setup
    oid = (await _create(client, org, customer="li"))["id"]
    at(clock, monday + timedelta(days=15, minutes=1))
    await jobs.run_once(world.ctx)
    assert ("breach", "outer") in await _events(world, org, oid)


async def test_bad_policies_are_refused(world, clock, setup):
    org, client, _ = setup
    before = await world.digest([org.t.id])
    cases = [
        {"name": "x", "conditions": {"colour": "red"}, "response_minutes": 5, "resolution_minutes": 5},
        {"name": "x", "conditions": {"priorities": [9]}, "response_minutes": 5, "resolution_minutes": 5},
        {"name": "默认2", "is_default": True, "response_minutes": 5, "resolution_minutes": 5},
        {"name": "x", "response_minutes": 5, "resolution_minutes": 5, "escalations": ["explode"]},
    ]
    for body in cases:
        r = await client.post(f"{API}/sla-policies", json=body)
        assert r.status_code in (409, 422), (body, r.text)
    r = await client.post(f"{API}/business-calendars", json={"name": "bad", "week": {"mon": [["18:00", "09:00"]]}})
    assert r.status_code == 422 and "ends before" in r.json()["detail"]
    assert await world.digest([org.t.id]) == before


async def test_scanner_works_in_batches_from_the_index(world, clock, setup):
    org, client, monday = setup
    ids = [(await _create(client, org))["id"] for _ in range(7)]
    at(clock, monday + timedelta(minutes=25))
    result = await jobs.run_once(world.ctx, batch=3)
    assert (result.orders, result.warnings) == (7, 7)
    async with world.session() as s:
        await bind_tenant(s, org.t.id)
        due = (
            await s.execute(
                sa.select(sa.func.count())
                .select_from(WorkOrder)
                .where(
                    WorkOrder.id.in_([uuid.UUID(i) for i in ids]),
                    WorkOrder.next_deadline_at <= monday + timedelta(minutes=25),
                )
            )
        ).scalar_one()
    assert due == 0


async def test_background_service_runs_and_stops(world):
    import asyncio

    stop = asyncio.Event()
    task = asyncio.create_task(jobs.run(world.ctx, stop))
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert task.done() and task.exception() is None
