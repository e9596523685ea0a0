"""Server-Sent Events through a real server: topics, permissions, resume with Last-Event-ID, resync."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest

from browser_support import running_server
from kefu.bootstrap import build_context, dispose_context
from kefu.core.actor import Actor
from kefu.core.db import bind_tenant
from kefu.realtime.hub import Hub
from kefu.tenancy.actions import do_create_tenant, do_create_user
from kefu.tenancy.rules import Permission

PASSWORD = "sse pass phrase 1"


@pytest.fixture
def backend() -> str:
    return "sqlite"


def _seed(settings) -> dict:
    async def work() -> dict:
        ctx = build_context(settings)
        try:
            async with ctx.session_factory() as s:
                tenant, admin = await do_create_tenant(
                    s, Actor.system("t"), slug="acme", name="Acme", admin_username="admin", admin_password=PASSWORD
                )
                await bind_tenant(s, tenant.id)
                actor = Actor(
                    Actor.system("t").kind, tenant.id, None, "t", frozenset(Permission), roles=("tenant_admin",)
                )
                boss = await do_create_user(
                    s, actor, username="boss", display_name="B", roles=["supervisor"], password=PASSWORD
                )
                agent = await do_create_user(
                    s, actor, username="agent1", display_name="A", roles=["agent"], password=PASSWORD
                )
                await s.commit()
                return {"tenant": tenant.id, "boss": boss.id, "agent": agent.id}
        finally:
            await dispose_context(ctx)

    return asyncio.run(work())


def _login(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10)
    r = client.post("/api/v1/t/acme/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return client


def _read_events(response: httpx.Response, count: int) -> list[dict]:
    events: list[dict] = []
    current: dict = {}
    for line in response.iter_lines():
        if line == "":
            if "event" in current:
                events.append(current)
                if len(events) >= count:
                    return events
            current = {}
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(": ")
        current[key] = value
    return events


def test_events_stream_resume_and_permissions(settings):
    ids = _seed(settings)
    ctx = build_context(settings)
    from kefu.web.app import create_app

    with running_server(lambda: create_app(ctx)) as base:
        hub: Hub = ctx.services["hub"]
        loop = ctx.services["loop"]

        def publish(topic: str, n: int) -> None:
            fut = asyncio.run_coroutine_threadsafe(_publish(hub, ids["tenant"], topic, n), loop)
            fut.result(5)

        boss = _login(base, "boss")
        agent = _login(base, "agent1")
        # Permissions: an agent may not watch the wallboard, nor another agent's topic.
        assert agent.get("/api/v1/t/acme/events", params={"topic": "wallboard"}).status_code == 403
        assert agent.get("/api/v1/t/acme/events", params={"topic": f"agent:{ids['boss']}"}).status_code == 403
        assert boss.get("/api/v1/t/acme/events", params={"topic": "nonsense"}).status_code == 422
        assert httpx.get(f"{base}/api/v1/t/acme/events", params={"topic": "wallboard"}).status_code == 401

        with boss.stream("GET", "/api/v1/t/acme/events", params={"topic": "wallboard"}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            publish("wallboard", 3)
            publish("agent:someone", 1)  # not subscribed: must not arrive
            got = _read_events(response, 3)
        assert [json.loads(e["data"])["data"]["n"] for e in got] == [0, 1, 2]
        last_id = got[-1]["id"]

        publish("wallboard", 2)  # while disconnected
        with boss.stream(
            "GET", "/api/v1/t/acme/events", params={"topic": "wallboard"}, headers={"Last-Event-ID": last_id}
        ) as response:
            resumed = _read_events(response, 2)
        assert [json.loads(e["data"])["data"]["n"] for e in resumed] == [0, 1]
        assert all(e["event"] == "test.tick" for e in resumed)

        # An id from another server instance (restart) → resync.
        with boss.stream(
            "GET", "/api/v1/t/acme/events", params={"topic": "wallboard"}, headers={"Last-Event-ID": "deadbeef.12"}
        ) as response:
            first = _read_events(response, 1)
        assert first[0]["event"] == "resync"

        with agent.stream("GET", "/api/v1/t/acme/events", params={"topic": f"agent:{ids['agent']}"}) as response:
            publish(f"agent:{ids['agent']}", 1)
            mine = _read_events(response, 1)
        assert json.loads(mine[0]["data"])["topic"] == f"agent:{ids['agent']}"


async def _publish(hub: Hub, tenant_id: uuid.UUID, topic: str, n: int) -> None:
    await asyncio.sleep(0.05)  # let the subscriber attach first
    for i in range(n):
        hub.publish(tenant_id, topic, "test.tick", {"n": i})


def test_hub_overflow_tells_the_slow_client_to_resync():
    async def scenario() -> None:
        hub = Hub(buffer_size=10)
        tenant = uuid.uuid4()
        sub, _, _ = hub.subscribe(tenant, ["wallboard"])
        sub.queue = asyncio.Queue(maxsize=3)
        for i in range(5):
            hub.publish(tenant, "wallboard", "tick", {"n": i})
        assert sub.closed and sub.needs_resync
        assert await sub.queue.get() is None
        # Resuming from before the buffer's oldest event also needs a resync.
        for i in range(20):
            hub.publish(tenant, "wallboard", "tick", {"n": i})
        _, replay, resync = hub.subscribe(tenant, ["wallboard"], f"{hub.epoch}.1")
        assert resync and not replay
        _, replay, resync = hub.subscribe(tenant, ["wallboard"], f"{hub.epoch}.20")
        assert not resync and [m.seq for m in replay] == list(range(21, 26))

    asyncio.run(scenario())
