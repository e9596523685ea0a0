"""Calls end to end on the simulated PBX: IVR, queue, offer, answer, talk, hang-up, records."""

from __future__ import annotations

import sqlalchemy as sa

from calls.call_support import build_call_center
from kefu.contacts.models import Call, CallEvent, Recording
from kefu.core.db import bind_tenant
from kefu.telephony.simulated import AgentBehaviour


async def _calls(world, tenant_id) -> list[Call]:
    async with world.session() as s:
        await bind_tenant(s, tenant_id)
        return list((await s.execute(sa.select(Call).order_by(Call.started_at))).scalars())


async def test_a_call_is_queued_offered_answered_from_the_desktop_and_recorded(world):
    cc = await build_call_center(world)
    await cc.available("agent1")
    agent = await world.login(cc.tenant, "agent1")
    cc.call(talk_time=40.0)
    await cc.run(5)
    state = (await agent.get("/api/v1/t/acme/desktop")).json()
    assert len(state["ringing"]) == 1, state
    ringing = state["ringing"][0]
    assert ringing["number"] == "138****5678" and ringing["queue"] == "general"
    r = await agent.post(f"/api/v1/t/acme/calls/{ringing['call_id']}/answer")
    assert r.status_code == 200, r.text
    await cc.run(2)
    state = (await agent.get("/api/v1/t/acme/desktop")).json()
    assert state["current"]["state"] == "connected" and state["routing"]["state"] == "busy"
    await cc.run(45)  # the caller hangs up after 40 s of talk
    await cc.stored()
    calls = await _calls(world, cc.tenant.id)
    assert len(calls) == 1
    call = calls[0]
    assert call.outcome == "answered" and call.state == "ended"
    assert call.agent_id == cc.agents["agent1"] and call.number_masked == "138****5678"
    assert 39 <= call.talk_seconds <= 41 and call.wait_seconds is not None
    assert call.number_enc and "13812345678" not in call.number_enc
    async with world.session() as s:
        await bind_tenant(s, cc.tenant.id)
        types = [e.type for e in (await s.execute(sa.select(CallEvent).order_by(CallEvent.at, CallEvent.id))).scalars()]
        recording = (await s.execute(sa.select(Recording))).scalar_one()
    assert types[0] == "call.started" and "call.queued" in types and "call.connected" in types
    assert types[-1] == "call.ended"
    assert recording.channels == 2 and recording.duration_s > 30
    assert (cc.pbx.recordings_dir / recording.storage_key).is_file()


async def test_simulated_agents_answer_by_themselves(world):
    cc = await build_call_center(world, agents={"bot1": AgentBehaviour(answer_after=2.0)})
    await cc.available("bot1")
    cc.call(talk_time=20.0)
    await cc.run(40)
    await cc.stored()
    calls = await _calls(world, cc.tenant.id)
    assert [c.outcome for c in calls] == ["answered"]
    stats = cc.router.queue_stats(str(cc.queue_id))
    assert stats.answered == 1 and stats.handled == 1


async def test_a_caller_who_gives_up_is_an_abandon_and_gets_a_missed_call_sms(world):
    cc = await build_call_center(world)
    admin = await world.login(cc.tenant)
    r = await admin.patch("/api/v1/t/acme/calls-settings",
                          json={"missed_call": {"recipients": ["13900000001"], "notify_caller": True}})
    assert r.status_code == 200, r.text
    # nobody is available: the caller waits, then hangs up after 30 s
    cc.call(patience=30.0)
    await cc.run(40)
    cc.call(patience=10.0)  # the same caller again within the window: no second notice
    await cc.run(20)
    await cc.stored()
    calls = await _calls(world, cc.tenant.id)
    assert [c.outcome for c in calls] == ["abandoned", "abandoned"]
    from kefu.messaging.models import SmsMessage as SmsOutbox

    async with world.session() as s:
        await bind_tenant(s, cc.tenant.id)
        messages = list((await s.execute(sa.select(SmsOutbox).order_by(SmsOutbox.created_at))).scalars())
    assert [m.purpose for m in messages] == ["missed_call_notice", "missed_call_notice"]
    assert sorted(m.to_number_masked for m in messages) == ["138****5678", "139****0001"]
    assert cc.router.queue_stats(str(cc.queue_id)).abandoned == 2
