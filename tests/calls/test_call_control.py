"""Each call-control action through the API, and the refusals: clear 4xx and nothing changed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from calls.call_support import build_call_center
from kefu.contacts.models import Call
from kefu.core.db import bind_tenant
from kefu.telephony.simulated import ExternalParty


async def _ringing(cc, client) -> dict:
    state = (await client.get(f"/api/v1/t/{cc.tenant.slug}/desktop")).json()
    assert state["ringing"], state
    return state["ringing"][0]


async def _connected(cc, username: str = "agent1", **call) -> tuple[object, str]:
    await cc.available(username)
    client = await cc.world.login(cc.tenant, username)
    cc.call(**{"talk_time": 300.0, **call})
    await cc.run(5)
    ringing = await _ringing(cc, client)
    r = await client.post(f"/api/v1/t/acme/calls/{ringing['call_id']}/answer")
    assert r.status_code == 200, r.text
    await cc.run(1)
    return client, ringing["call_id"]


@pytest.fixture
async def cc(world):
    return await build_call_center(world, agents={"agent1": None, "agent2": None})


async def test_hold_resume_mute_and_recording_pause(cc):
    client, call_id = await _connected(cc)
    for action, check in (("hold", ("held", True)), ("resume", ("held", False)), ("mute", ("muted", True)),
                          ("unmute", ("muted", False)), ("pause-recording", ("recording", True)),
                          ("resume-recording", ("recording", True))):
        r = await client.post(f"/api/v1/t/acme/calls/{call_id}/{action}")
        assert r.status_code == 200, (action, r.text)
        assert r.json()["call"][check[0]] is check[1], (action, r.json())
    await cc.run(1)


async def test_hang_up_then_wrap_up(cc):
    client, call_id = await _connected(cc)
    r = await client.post(f"/api/v1/t/acme/calls/{call_id}/hangup")
    assert r.status_code == 200
    await cc.run(10)  # the caller hears the survey, presses nothing, goes
    await cc.stored()
    r = await client.post(f"/api/v1/t/acme/calls/{call_id}/wrap-up", json={"code": "nonsense", "notes": ""})
    assert r.status_code == 422 and "wrap-up code" in r.json()["detail"]
    r = await client.post(f"/api/v1/t/acme/calls/{call_id}/wrap-up", json={"code": "resolved", "notes": "已解答"})
    assert r.status_code == 200 and r.json()["wrap_up_code"] == "resolved"
    other = await cc.world.login(cc.tenant, "agent2")
    r = await other.post(f"/api/v1/t/acme/calls/{call_id}/wrap-up", json={"code": "resolved", "notes": ""})
    assert r.status_code == 404  # agents see only their own calls


async def test_blind_transfer_to_a_queue_requeues_the_caller(cc):
    from routing_api.routing_support import make_queue, make_skill

    await make_skill(cc.world, cc.tenant, "billing")
    second = await make_queue(cc.world, cc.tenant, name="transfers", eligibility="billing>=1")
    client, call_id = await _connected(cc)
    r = await client.post(f"/api/v1/t/acme/calls/{call_id}/transfer", json={"queue_id": str(second)})
    assert r.status_code == 200, r.text
    await cc.run(2)
    state = (await client.get("/api/v1/t/acme/desktop")).json()
    assert state["current"] is None and state["routing"]["state"] in ("wrap_up", "idle")
    session = cc.controller.by_id[__import__("uuid").UUID(call_id)]
    assert session.state in ("queued", "ringing") and session.agent_id is None
    assert cc.router.queue_stats(str(second)).waiting == 1  # agent2 is not available: the caller waits


async def test_blind_transfer_to_another_agent(cc):
    await cc.available("agent2")
    client, call_id = await _connected(cc)
    r = await client.post(f"/api/v1/t/acme/calls/{call_id}/transfer", json={"agent_id": str(cc.agents["agent2"])})
    assert r.status_code == 200, r.text
    await cc.run(2)
    other = await cc.world.login(cc.tenant, "agent2")
    ringing = await _ringing(cc, other)
    assert ringing["call_id"] == call_id


async def test_transfer_to_an_external_number(cc):
    cc.pbx.register_number("+8613900000001", ExternalParty(answer_after=2.0))
    client, call_id = await _connected(cc)
    r = await client.post(f"/api/v1/t/acme/calls/{call_id}/transfer", json={"number": "13900000001"})
    assert r.status_code == 200, r.text
    await cc.run(5)
    await cc.stored()
    state = (await client.get("/api/v1/t/acme/desktop")).json()
    assert state["current"] is None


async def test_attended_transfer_consult_then_complete_or_cancel(cc):
    cc.pbx.register_number("+8613900000002", ExternalParty(answer_after=1.0))
    client, call_id = await _connected(cc)
    r = await client.post(f"/api/v1/t/acme/calls/{call_id}/consult", json={"number": "13900000002"})
    assert r.status_code == 200 and r.json()["call"]["consulting"] is True
    r = await client.post(f"/api/v1/t/acme/calls/{call_id}/consult", json={"number": "13900000002"})
    assert r.status_code == 409 and r.json()["type"].endswith("/consult-in-progress")
    await cc.run(3)
    r = await client.post(f"/api/v1/t/acme/calls/{call_id}/consult-cancel")
    assert r.status_code == 200
    await cc.run(2)
    r = await client.post(f"/api/v1/t/acme/calls/{call_id}/consult", json={"number": "13900000002"})
    assert r.status_code == 200
    await cc.run(3)
    r = await client.post(f"/api/v1/t/acme/calls/{call_id}/consult-complete")
    assert r.status_code == 200
    await cc.run(2)
    state = (await client.get("/api/v1/t/acme/desktop")).json()
    assert state["current"] is None  # the customer now talks with the consulted party


async def test_three_way_conference(cc):
    cc.pbx.register_number("+8613900000003", ExternalParty(answer_after=1.0))
    client, call_id = await _connected(cc)
    r = await client.post(f"/api/v1/t/acme/calls/{call_id}/conference", json={"number": "13900000003"})
    assert r.status_code == 200, r.text
    await cc.run(3)
    session = cc.controller.by_id[__import__("uuid").UUID(call_id)]
    assert session.consult["joined"] is True
    bridges = cc.pbx.get_call(session.pbx_call_id).bridges
    assert [len(b.leg_ids) for b in bridges if b.bridge_id == session.bridge_id] == [3]


async def test_outbound_click_to_dial(cc):
    cc.pbx.register_number("+8613700000009", ExternalParty(answer_after=2.0, talk_time=30.0))
    client = await cc.world.login(cc.tenant, "agent1")
    await cc.available("agent1")
    r = await client.post("/api/v1/t/acme/calls/outbound", json={"number": "13700000009"})
    assert r.status_code == 201, r.text
    call_id = r.json()["call"]["call_id"]
    await cc.run(1)
    cc.pbx.device_answer(f"agent-{cc.agents['agent1']}")  # the agent picks up their phone
    await cc.run(5)
    state = (await client.get("/api/v1/t/acme/desktop")).json()
    assert state["current"]["call_id"] == call_id and state["current"]["state"] == "connected"
    assert state["routing"]["status"] == "break" and state["routing"]["break_reason"] == "outbound"
    await cc.run(40)
    state = (await client.get("/api/v1/t/acme/desktop")).json()
    assert state["routing"]["status"] == "available"  # the system's own break ended with the call
    r = await client.post("/api/v1/t/acme/calls/outbound", json={"number": "not a number"})
    assert r.status_code == 422


async def test_refusals_are_clear_and_change_nothing(cc):
    client, call_id = await _connected(cc)
    other = await cc.world.login(cc.tenant, "agent2")
    await cc.stored()  # the live call's own progress is written first; nothing may change after this
    before = await cc.world.digest([cc.tenant.id])
    for path, body, status, kind in (
        (f"/calls/{call_id}/transfer", {"queue_id": str(cc.queue_id)}, 409, "not-your-call"),
        (f"/calls/{call_id}/hold", None, 409, "not-your-call"),
        (f"/calls/{call_id}/hangup", None, 409, "not-your-call"),
        (f"/calls/{call_id}/answer", None, 409, "offer-expired"),
        ("/calls/01a20000-0000-7000-8000-000000000000/answer", None, 404, "call-not-live"),
    ):
        r = await other.request("POST", f"/api/v1/t/acme{path}", json=body)
        assert r.status_code == status, (path, r.text)
        assert r.json()["type"].endswith(kind), (path, r.json())
    r = await client.post(f"/api/v1/t/acme/calls/{call_id}/transfer", json={"queue_id": str(cc.queue_id),
                                                                            "number": "123"})
    assert r.status_code == 422
    r = await client.post(f"/api/v1/t/acme/calls/{call_id}/consult-complete")
    assert r.status_code == 409 and r.json()["type"].endswith("/no-consult")
    r = await client.post(f"/api/v1/t/acme/calls/{call_id}/answer")
    assert r.status_code == 409 and r.json()["type"].endswith("/offer-expired")
    assert await cc.world.digest([cc.tenant.id]) == before


async def test_an_offer_answered_after_it_expired_is_refused(world):
    from kefu.tenancy.models import Tenant

    cc = await build_call_center(world, queue={"offer_timeout_s": 10})
    async with world.session() as s:  # one missed offer pauses the agent, so the call is not offered again
        tenant = await s.get(Tenant, cc.tenant.id)
        tenant.settings = {**tenant.settings, "routing": {"max_consecutive_misses": 1}}
        await s.commit()
    await cc.available("agent1")
    client = await world.login(cc.tenant, "agent1")
    cc.call(patience=300.0)
    await cc.run(8)
    ringing = await _ringing(cc, client)
    await cc.run(12)  # the offer times out; the call waits again
    r = await client.post(f"/api/v1/t/acme/calls/{ringing['call_id']}/answer")
    assert r.status_code == 409 and r.json()["type"].endswith("/offer-expired")
    state = (await client.get("/api/v1/t/acme/desktop")).json()
    assert state["routing"]["status"] == "break" and state["routing"]["break_reason"] == "missed_offers"


async def test_recordings_play_download_and_are_logged(cc):
    from kefu.audit.models import AccessLogEntry

    client, call_id = await _connected(cc, talk_time=20.0)
    await cc.run(30)
    await cc.stored()
    boss = await cc.world.user(cc.tenant, "boss", ["supervisor"])
    del boss
    supervisor = await cc.world.login(cc.tenant, "boss")
    r = await supervisor.get(f"/api/v1/t/acme/calls/{call_id}/recording")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav" and r.content[:4] == b"RIFF"
    r = await supervisor.get(f"/api/v1/t/acme/calls/{call_id}/recording?download=1&reason=quality%20review")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    r = await client.get(f"/api/v1/t/acme/calls/{call_id}/recording")
    assert r.status_code == 403  # agents do not play recordings
    async with cc.world.session() as s:
        await bind_tenant(s, cc.tenant.id)
        logged = [(e.action, e.resource_type, e.justification_type) for e in
                  (await s.execute(sa.select(AccessLogEntry).order_by(AccessLogEntry.id))).scalars()]
        call = (await s.execute(sa.select(Call))).scalar_one()
    assert ("play", "recording", "call") in logged and ("download", "recording", "call") in logged
    assert call.recording_id is not None


async def test_another_tenants_recording_is_not_found(world):
    cc = await build_call_center(world)
    client, call_id = await _connected(cc, talk_time=10.0)
    await cc.run(20)
    await cc.stored()
    beta = await world.tenant("beta")
    await world.user(beta, "spy", ["supervisor"])
    spy = await world.login(beta, "spy")
    r = await spy.get(f"/api/v1/t/beta/calls/{call_id}/recording")
    assert r.status_code == 404
    r = await spy.get(f"/api/v1/t/acme/calls/{call_id}/recording")
    assert r.status_code == 401


async def test_screen_pop_is_only_for_the_agent_on_the_call(cc):
    client, call_id = await _connected(cc)
    r = await client.get(f"/api/v1/t/acme/calls/{call_id}/customer")
    assert r.status_code == 200 and r.json()["customer"] is None and "recent_calls" in r.json()
    other = await cc.world.login(cc.tenant, "agent2")
    r = await other.get(f"/api/v1/t/acme/calls/{call_id}/customer")
    assert r.status_code == 404
