"""The routing API end to end: configuration, agent status, tasks and offers, statistics, restart."""

from __future__ import annotations

import uuid

from kefu.bootstrap import build_context, dispose_context
from kefu.routing.host import host_of
from routing_api.routing_support import make_agent


async def _admin(world):
    t = await world.tenant("acme")
    return t, await world.login(t)


async def test_configure_skills_queues_agents_and_take_a_task(world, clock):
    t, admin = await _admin(world)
    for name in ("billing", "general"):
        assert (await admin.post("/api/v1/t/acme/routing/skills", json={"name": name})).status_code == 201
    r = await admin.post(
        "/api/v1/t/acme/routing/queues",
        json={"name": "账单", "eligibility": "billing>=2", "wrap_up_s": 5, "offer_timeout_s": 15},
    )
    assert r.status_code == 201, r.text
    queue_id = r.json()["id"]
    agent = await world.user(t, "agent1", ["agent"])
    r = await admin.put(
        f"/api/v1/t/acme/routing/agents/{agent.id}/profile", json={"skills": {"billing": 3}, "capacity": {"voice": 1}}
    )
    assert r.status_code == 200, r.text

    me = await world.login(t, "agent1")
    r = await me.post(f"/api/v1/t/acme/routing/agents/{agent.id}/status", json={"status": "available"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "available" and r.json()["state"] == "idle"

    r = await admin.post("/api/v1/t/acme/routing/tasks", json={"queue_id": queue_id, "kind": "callback"})
    assert r.status_code == 201, r.text
    task_id = r.json()["task_id"]
    assert r.json()["state"] == "offered"

    stats = (await admin.get("/api/v1/t/acme/routing/stats")).json()
    assert stats["agents"][0]["offered_task"] == task_id and stats["agents"][0]["name"] == "agent1"

    token = await _token(world, t, task_id)
    r = await me.post(f"/api/v1/t/acme/routing/tasks/{task_id}/accept", json={"token": token + 7})
    assert r.status_code == 404 and r.json()["type"].endswith("/offer-not-found")
    r = await me.post(f"/api/v1/t/acme/routing/tasks/{task_id}/accept", json={"token": token})
    assert r.status_code == 200 and r.json()["state"] == "assigned"
    r = await me.post(f"/api/v1/t/acme/routing/tasks/{task_id}/complete")
    assert r.status_code == 200
    q = (await admin.get(f"/api/v1/t/acme/routing/queues/{queue_id}/stats")).json()
    assert q["answered"] == 1 and q["handled"] == 1 and q["waiting"] == 0


async def _token(world, t, task_id: str) -> int:
    hosted = await host_of(world.ctx).get(t.id)
    return hosted.router.task_info(task_id)["token"]


async def test_late_accept_after_the_offer_timed_out_is_refused_and_harmless(world, clock):
    t, admin = await _admin(world)
    queue_id = (await admin.post("/api/v1/t/acme/routing/queues", json={"name": "q", "offer_timeout_s": 10})).json()[
        "id"
    ]
    agent_id = await make_agent(world, t, "agent1")
    me = await world.login(t, "agent1")
    await me.post(f"/api/v1/t/acme/routing/agents/{agent_id}/status", json={"status": "available"})
    task_id = (await admin.post("/api/v1/t/acme/routing/tasks", json={"queue_id": queue_id})).json()["task_id"]
    token = await _token(world, t, task_id)
    clock.advance(11)  # the offer times out; the task goes back to its place
    r = await me.post(f"/api/v1/t/acme/routing/tasks/{task_id}/accept", json={"token": token})
    assert r.status_code == 409 and r.json()["type"].endswith("/offer-expired")
    info = (await host_of(world.ctx).get(t.id)).router.task_info(task_id)
    assert info["state"] in ("waiting", "offered") and info["agent_id"] is None


async def test_bad_configuration_is_refused_with_a_clear_message_and_changes_nothing(world):
    t, admin = await _admin(world)
    await admin.post("/api/v1/t/acme/routing/skills", json={"name": "billing"})
    queue_id = (await admin.post("/api/v1/t/acme/routing/queues", json={"name": "q1"})).json()["id"]
    before = await world.digest([t.id])
    agent = await world.user(t, "agent1", ["agent"])
    before = await world.digest([t.id])
    cases = [
        ("post", "/api/v1/t/acme/routing/queues", {"name": "q2", "eligibility": "cooking>=2"}, 422, "cooking"),
        ("post", "/api/v1/t/acme/routing/queues", {"name": "q2", "eligibility": "billing>=9"}, 422, "level"),
        ("post", "/api/v1/t/acme/routing/queues", {"name": "q2", "eligibility": "billing >= AND"}, 422, ""),
        ("post", "/api/v1/t/acme/routing/queues", {"name": "q1"}, 409, "already exists"),
        (
            "post",
            "/api/v1/t/acme/routing/queues",
            {
                "name": "q2",
                "exception_rules": [
                    {
                        "trigger": "queue_length",
                        "action": "overflow",
                        "threshold": 3,
                        "target_queue_id": str(uuid.uuid4()),
                    }
                ],
            },
            422,
            "does not exist",
        ),
        ("put", f"/api/v1/t/acme/routing/agents/{agent.id}/profile", {"skills": {"billing": 7}}, 422, "level"),
        ("put", f"/api/v1/t/acme/routing/agents/{agent.id}/profile", {"skills": {"nope": 2}}, 422, "nope"),
        (
            "post",
            "/api/v1/t/acme/routing/policies",
            {"name": "p", "steps": [{"queue_id": str(uuid.uuid4())}]},
            422,
            "missing queue",
        ),
        ("post", "/api/v1/t/acme/routing/skills", {"name": "Bad Name"}, 422, "name"),
    ]
    for method, path, body, status, words in cases:
        r = await getattr(admin, method)(path, json=body)
        assert r.status_code == status, (path, body, r.text)
        assert words.lower() in r.json()["detail"].lower(), (body, r.json()["detail"])
    assert await world.digest([t.id]) == before
    del queue_id


async def test_policies_that_loop_are_refused(world):
    t, admin = await _admin(world)
    q = (await admin.post("/api/v1/t/acme/routing/queues", json={"name": "q1"})).json()["id"]
    p1 = (
        await admin.post(
            "/api/v1/t/acme/routing/policies",
            json={"name": "p1", "steps": [{"queue_id": q, "expires_after_s": 30}], "fallback_policy_id": None},
        )
    ).json()
    assert p1.get("id") is None  # a last step that expires with nowhere to go is refused
    p1 = (await admin.post("/api/v1/t/acme/routing/policies", json={"name": "p1", "steps": [{"queue_id": q}]})).json()
    p2 = (
        await admin.post(
            "/api/v1/t/acme/routing/policies",
            json={"name": "p2", "steps": [{"queue_id": q, "expires_after_s": 30}], "fallback_policy_id": p1["id"]},
        )
    ).json()
    assert "id" in p2
    r = await admin.patch(
        f"/api/v1/t/acme/routing/policies/{p1['id']}",
        json={"steps": [{"queue_id": q, "expires_after_s": 30}], "fallback_policy_id": p2["id"]},
    )
    assert (r.status_code == 422 and "loop" in r.json()["detail"].lower()) or "cycle" in r.json()["detail"].lower()


async def test_status_rules(world):
    t, admin = await _admin(world)
    a1 = await make_agent(world, t, "agent1")
    a2 = await make_agent(world, t, "agent2")
    boss = await world.user(t, "boss", ["supervisor"])
    me = await world.login(t, "agent1")
    r = await me.post(f"/api/v1/t/acme/routing/agents/{a2}/status", json={"status": "available"})
    assert r.status_code == 403
    r = await me.post(f"/api/v1/t/acme/routing/agents/{a1}/status", json={"status": "dancing"})
    assert r.status_code == 422
    supervisor = await world.login(t, "boss")
    r = await supervisor.post(
        f"/api/v1/t/acme/routing/agents/{a2}/status", json={"status": "break", "reason": "meeting"}
    )
    assert r.status_code == 200 and r.json()["status"] == "break"
    r = await supervisor.post(f"/api/v1/t/acme/routing/agents/{boss.id}/status", json={"status": "available"})
    assert r.status_code == 404 and r.json()["type"].endswith("/not-an-agent")


async def test_live_configuration_change_routes_waiting_tasks(world):
    t, admin = await _admin(world)
    await admin.post("/api/v1/t/acme/routing/skills", json={"name": "billing"})
    q = (await admin.post("/api/v1/t/acme/routing/queues", json={"name": "q", "eligibility": "billing>=3"})).json()[
        "id"
    ]
    agent_id = await make_agent(world, t, "agent1", {"billing": 2})
    me = await world.login(t, "agent1")
    await me.post(f"/api/v1/t/acme/routing/agents/{agent_id}/status", json={"status": "available"})
    task = (await admin.post("/api/v1/t/acme/routing/tasks", json={"queue_id": q})).json()
    assert task["state"] == "waiting"  # the only agent is not skilled enough
    r = await admin.patch(f"/api/v1/t/acme/routing/queues/{q}", json={"eligibility": "billing>=2"})
    assert r.status_code == 200
    info = (await host_of(world.ctx).get(t.id)).router.task_info(task["task_id"])
    assert info["state"] == "offered" and info["offer_agents"] == [str(agent_id)]


async def test_a_restart_restores_waiting_tasks_in_order_and_agent_statuses(world, settings, clock):
    t, admin = await _admin(world)
    q = (await admin.post("/api/v1/t/acme/routing/queues", json={"name": "q"})).json()["id"]
    a1 = await make_agent(world, t, "agent1")
    a2 = await make_agent(world, t, "agent2")
    me = await world.login(t, "agent2")
    await me.post(f"/api/v1/t/acme/routing/agents/{a2}/status", json={"status": "break", "reason": "lunch"})
    tasks = []
    for priority in (0, 5, 0, 5):
        r = await admin.post("/api/v1/t/acme/routing/tasks", json={"queue_id": q, "priority": priority})
        tasks.append(r.json()["task_id"])
        clock.advance(1)
    before = (await host_of(world.ctx).get(t.id)).router.snapshot()

    # A second process on the same database, as after a crash: nothing in memory survives.
    other = build_context(settings, clock=clock)
    try:
        restored = (await host_of(other).get(t.id)).router.snapshot()
    finally:
        await dispose_context(other)
    queue_before = next(x for x in before["queues"] if x["config"]["id"] == q)
    queue_after = next(x for x in restored["queues"] if x["config"]["id"] == q)
    assert queue_after["tasks"] == queue_before["tasks"] == [tasks[1], tasks[3], tasks[0], tasks[2]]
    statuses = {a["id"]: (a["status"], a["break_reason"]) for a in restored["agents"]}
    assert statuses == {str(a1): ("offline", None), str(a2): ("break", "lunch")}
