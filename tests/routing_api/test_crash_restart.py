"""kill -9 of a real server process, then a restart: waiting tasks are back at their old places,
offers pending at the crash are made again, and agent statuses are restored."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from browser_support import free_port
from kefu.bootstrap import build_context, dispose_context
from kefu.core.actor import Actor
from kefu.core.db import bind_tenant, commit
from kefu.tenancy.actions import do_create_tenant, do_create_user
from kefu.tenancy.rules import Permission

PASSWORD = "crash test phrase"


def _seed(settings) -> None:
    async def work() -> None:
        ctx = build_context(settings)
        try:
            async with ctx.session_factory() as s:
                tenant, _ = await do_create_tenant(
                    s, Actor.system("t"), slug="acme", name="Acme", admin_username="admin", admin_password=PASSWORD
                )
                await bind_tenant(s, tenant.id)
                actor = Actor(
                    Actor.system("t").kind, tenant.id, None, "t", frozenset(Permission), roles=("tenant_admin",)
                )
                for name in ("agent1", "agent2"):
                    await do_create_user(s, actor, username=name, display_name=name, roles=["agent"], password=PASSWORD)
                await commit(s)
        finally:
            await dispose_context(ctx)

    asyncio.run(work())


def _env(settings, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "KEFU_DATA_DIR": str(settings.data_dir),
            "KEFU_SECRET_KEY": settings.secret_key.get_secret_value(),
            "KEFU_LISTEN": f"127.0.0.1:{port}",
            "KEFU_PASSWORD_HASH_MEMORY_KIB": "64",
            "KEFU_PASSWORD_HASH_TIME_COST": "1",
            "KEFU_RUN_BACKGROUND_SERVICES": "0",
        }
    )
    if settings.database_url:
        env["KEFU_DATABASE_URL"] = settings.database_url
        env["KEFU_DATABASE_OWNER_URL"] = settings.database_owner_url or settings.database_url
        env["KEFU_DATABASE_APP_ROLE"] = settings.database_app_role
    return env


def _start(settings, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kefu.cli.main", "serve"],
        env=_env(settings, port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def _login(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=15)
    r = client.post("/api/v1/t/acme/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return client


def test_kill_9_and_restart_keeps_every_waiting_task_in_place(settings, backend):
    if backend == "sqlite" and os.environ.get("KEFU_TEST_DATABASE_URL"):
        pytest.skip("run against PostgreSQL when it is configured (the SQLite case is the same code)")
    _seed(settings)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start(settings, port)
    try:
        admin = _login(base, "admin")
        queue = admin.post("/api/v1/t/acme/routing/queues", json={"name": "投诉", "offer_timeout_s": 300}).json()
        users = {u["username"]: u["id"] for u in admin.get("/api/v1/t/acme/users").json()["items"]}
        for name in ("agent1", "agent2"):
            r = admin.put(f"/api/v1/t/acme/routing/agents/{users[name]}/profile", json={"skills": {}})
            assert r.status_code == 200, r.text
        one, two = _login(base, "agent1"), _login(base, "agent2")
        assert (
            one.post(
                f"/api/v1/t/acme/routing/agents/{users['agent1']}/status", json={"status": "available"}
            ).status_code
            == 200
        )
        assert (
            two.post(
                f"/api/v1/t/acme/routing/agents/{users['agent2']}/status", json={"status": "break", "reason": "lunch"}
            ).status_code
            == 200
        )
        for priority in (0, 3, 0, 3, 1, 0):
            r = admin.post("/api/v1/t/acme/routing/tasks", json={"queue_id": queue["id"], "priority": priority})
            assert r.status_code == 201, r.text
        before = admin.get(f"/api/v1/t/acme/routing/queues/{queue['id']}/tasks").json()
        assert [t["state"] for t in before].count("offered") == 1  # agent1 is being offered the head task
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(10)

    server = _start(settings, port)
    try:
        admin = _login(base, "admin")
        after = admin.get(f"/api/v1/t/acme/routing/queues/{queue['id']}/tasks").json()
        assert [t["id"] for t in after] == [t["id"] for t in before]
        assert [(t["priority"], t["enqueued_at"]) for t in after] == [(t["priority"], t["enqueued_at"]) for t in before]
        # The offer pending at the crash was withdrawn; routing starts again from the head of the line.
        old_offer = next(t for t in before if t["state"] == "offered")
        head = after[0]
        assert head["state"] == "offered" and head["offer_agents"] == [users["agent1"]]
        assert [t["state"] for t in after].count("offered") == 1
        stats = {a["agent_id"]: a for a in admin.get("/api/v1/t/acme/routing/stats").json()["agents"]}
        assert stats[users["agent1"]]["status"] == "available"
        assert (stats[users["agent2"]]["status"], stats[users["agent2"]]["break_reason"]) == ("break", "lunch")
        one = _login(base, "agent1")
        r = one.post(f"/api/v1/t/acme/routing/tasks/{old_offer['id']}/accept", json={"token": old_offer["token"]})
        assert r.status_code == 409 and r.json()["type"].endswith("/offer-expired")
        r = one.post(f"/api/v1/t/acme/routing/tasks/{head['id']}/accept", json={"token": head["token"]})
        assert r.status_code == 200 and r.json()["state"] == "assigned"
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(10)
