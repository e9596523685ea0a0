"""The wallboard's intraday figures: 15-minute buckets in the tenant's time zone, counted by SQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from kefu.contacts.models import Call
from kefu.core.db import bind_tenant, commit
from kefu.core.ids import new_id
from kefu.routing.actions import do_create_queue
from kefu.tenancy.models import Tenant

SHANGHAI = ZoneInfo("Asia/Shanghai")
URL = "/api/v1/t/{slug}/wallboard/intraday"


async def _queue(world, t, name: str, **config) -> uuid.UUID:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        queue = await do_create_queue(s, world.admin_actor(t.id), name=name, **config)
        await commit(s)
    return queue.id


async def _calls(world, t, rows: list[dict]) -> None:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        for row in rows:
            s.add(
                Call(
                    id=new_id(),
                    tenant_id=t.id,
                    pbx_call_id=uuid.uuid4().hex,
                    number_masked="138****0000",
                    tenant_number="4000000000",
                    state="ended",
                    **{"direction": "inbound", **row},
                )
            )
        await commit(s)


def _local(day: str, clock: str, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=zone)


async def test_calls_are_counted_per_quarter_hour_of_the_tenants_day(world):
    a = await world.tenant("acme")
    b = await world.tenant("beta")
    general = await _queue(world, a, "general")  # service level within 20 s
    billing = await _queue(world, a, "billing", sl_threshold_s=30)
    day = "2025-03-10"

    def answered(at: datetime, queue: uuid.UUID, wait: float) -> dict:
        return {
            "started_at": at,
            "queue_id": queue,
            "queued_at": at,
            "answered_at": at + timedelta(seconds=wait),
            "wait_seconds": wait,
            "outcome": "answered",
        }

    await _calls(
        world,
        a,
        [
            answered(_local(day, "08:00:00"), general, 10.0),  # in service level
            answered(_local(day, "08:14:59.900"), general, 25.0),  # same bucket, over 20 s
            answered(_local(day, "08:15:00"), billing, 25.0),  # next bucket; billing allows 30 s
            {"started_at": _local(day, "08:20:00"), "queue_id": general, "outcome": "abandoned", "wait_seconds": 40.0},
            {"started_at": _local(day, "08:21:00"), "outcome": "self_service"},  # never reached a queue
            {
                "started_at": _local(day, "08:22:00"),
                "direction": "outbound",
                "queue_id": general,
                "outcome": "answered",
                "answered_at": _local(day, "08:22:10"),
                "wait_seconds": 1.0,
            },
            answered(_local("2025-03-09", "23:59:59"), general, 5.0),  # the day before
            answered(_local("2025-03-11", "00:00:00"), general, 5.0),  # the day after
            answered(_local(day, "23:59:59"), general, 5.0),  # the last bucket
        ],
    )
    await _calls(world, b, [answered(_local(day, "08:00:00"), general, 1.0)])  # another tenant

    await world.user(a, "boss", ["supervisor"])
    boss = await world.login(a, "boss")
    r = await boss.get(URL.format(slug="acme"), params={"date": day})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["date"] == day and body["timezone"] == "Asia/Shanghai" and body["bucket_minutes"] == 15
    buckets = body["buckets"]
    assert len(buckets) == 96 and buckets[0]["start"] == "00:00" and buckets[32]["start"] == "08:00"
    assert buckets[32]["at"] == "2025-03-10T00:00:00+00:00"

    def figures(bucket: dict) -> tuple:
        return (
            bucket["offered"],
            bucket["answered"],
            bucket["answered_in_sl"],
            bucket["abandoned"],
            bucket["average_wait_s"],
            bucket["average_answer_s"],
            bucket["service_level"],
        )

    assert figures(buckets[32]) == (2, 2, 1, 0, 17.5, 17.5, 0.5)
    assert figures(buckets[33]) == (2, 1, 1, 1, 32.5, 25.0, 0.5)
    assert figures(buckets[95]) == (1, 1, 1, 0, 5.0, 5.0, 1.0)
    assert figures(buckets[0]) == (0, 0, 0, 0, None, None, None)
    assert sum(b["offered"] for b in buckets) == 5
    assert figures(body["totals"]) == (5, 4, 3, 1, 21.0, 16.2, 0.6)

    # Beta sees only its own call.
    b_boss = await world.login(b)
    beta = (await b_boss.get(URL.format(slug="beta"), params={"date": day})).json()
    assert beta["totals"]["offered"] == 1 and beta["buckets"][32]["offered"] == 1


async def test_a_day_when_the_clocks_change_has_92_buckets(world):
    a = await world.tenant("acme")
    async with world.session() as s:
        await bind_tenant(s, a.id)
        await s.execute(sa.update(Tenant).where(Tenant.id == a.id).values(timezone="America/New_York"))
        await commit(s)
    queue = await _queue(world, a, "general")
    new_york = ZoneInfo("America/New_York")
    at = _local("2024-03-10", "03:00:00", new_york)  # the first minute after 02:00 became 03:00
    await _calls(world, a, [{"started_at": at, "queue_id": queue, "outcome": "abandoned", "wait_seconds": 3.0}])
    admin = await world.login(a)
    body = (await admin.get(URL.format(slug="acme"), params={"date": "2024-03-10"})).json()
    assert len(body["buckets"]) == 92
    assert [b["start"] for b in body["buckets"][7:9]] == ["01:45", "03:00"]
    assert body["buckets"][8]["abandoned"] == 1 and body["buckets"][8]["at"] == at.astimezone(UTC).isoformat()


async def test_today_by_default_and_bad_dates_are_refused(world):
    a = await world.tenant("acme")
    admin = await world.login(a)
    r = await admin.get(URL.format(slug="acme"))
    assert r.status_code == 200
    assert r.json()["date"] == world.ctx.now().astimezone(SHANGHAI).date().isoformat()
    for bad in ("2024-13-01", "yesterday", "1999-12-31", "2101-01-01"):
        r = await admin.get(URL.format(slug="acme"), params={"date": bad})
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    await world.user(a, "agent1", ["agent"])
    agent = await world.login(a, "agent1")
    r = await agent.get(URL.format(slug="acme"))
    assert r.status_code == 403 and "wallboard.read" in r.json()["detail"]
