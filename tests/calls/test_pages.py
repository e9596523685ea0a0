"""The agent desktop and wallboard pages, and the desktop's contract: snapshot + events = fresh snapshot.

The desktop shows ``GET /desktop`` and then applies the events published to ``agent:<id>``
(``frontend/desktop.js``'s reducer). Replaying the events of a scripted call on top of the first
snapshot must give the same routing status, current call and ringing calls as a fresh snapshot at
every step (DESIGN habit 8). The replay runs through the real JavaScript reducer under node, and
through a small Python reading of the same contract, so the server side is checked even without node.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from calls.call_support import build_call_center
from kefu.contacts.pages import script_json
from kefu.telephony.simulated import ExternalParty
from routing_api.routing_support import make_queue

ROOT = Path(__file__).resolve().parents[2]
DESKTOP_JS = ROOT / "frontend" / "desktop.js"


def _config(html: str, element_id: str) -> dict[str, Any]:
    match = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.S)
    assert match, f"no {element_id} block"
    return json.loads(match.group(1))


def test_script_json_cannot_break_out_of_its_script_block():
    text = script_json({"name": "</script><script>alert(1)</script>", "x": "a & b <!--"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"name": "</script><script>alert(1)</script>", "x": "a & b <!--"}


async def test_the_desktop_page_carries_the_snapshot_and_masked_numbers_only(world):
    cc = await build_call_center(world)
    await cc.available("agent1")
    agent = await world.login(cc.tenant, "agent1")
    cc.call(talk_time=60.0)
    await cc.run(5)
    r = await agent.get("/t/acme/desktop")
    assert r.status_code == 200, r.text
    assert "script-src" in r.headers["content-security-policy"] and "<script>" not in r.text  # no inline JS
    assert 'data-testid="nav-desktop"' in r.text and 'data-testid="nav-wallboard"' not in r.text
    config = _config(r.text, "desktop-config")
    snapshot = config["snapshot"]
    assert snapshot["agent_id"] == str(cc.agents["agent1"]) and config["agent_id"] == snapshot["agent_id"]
    assert snapshot["routing"]["status"] == "available"
    assert [c["number"] for c in snapshot["ringing"]] == ["138****5678"]
    assert "13812345678" not in r.text  # the full number never reaches the page
    hub = world.ctx.services["hub"]
    assert config["last_event_id"] == f"{hub.epoch}.{hub.last_seq(cc.tenant.id)}"
    assert config["wrap_up_codes"] and config["labels"]["wrap_up"]["resolved"] == "已解决"
    assert "接听" in config["labels"]["text"]["pick_up"]

    # English, and the same page after a reload shows the same state.
    r = await agent.get("/t/acme/desktop", headers={"accept-language": "en"})
    assert "Agent desktop" in r.text and "Go available" in r.text
    assert _config(r.text, "desktop-config")["snapshot"]["ringing"][0]["call_id"] == snapshot["ringing"][0]["call_id"]


async def test_who_may_open_the_desktop_and_the_wallboard(world):
    cc = await build_call_center(world)
    await world.user(cc.tenant, "boss", ["supervisor"])
    boss = await world.login(cc.tenant, "boss")
    agent = await world.login(cc.tenant, "agent1")
    admin = await world.login(cc.tenant)

    r = await boss.get("/t/acme/wallboard")
    assert r.status_code == 200
    config = _config(r.text, "wallboard-config")
    assert config["topics"] == ["wallboard", "alerts"] and config["can_read_stats"] is True
    assert 'data-testid="intraday-chart"' in r.text and 'data-testid="nav-wallboard"' in r.text

    # A supervisor may open the desktop too, but is told they have no agent profile.
    r = await boss.get("/t/acme/desktop")
    assert r.status_code == 200
    assert _config(r.text, "desktop-config")["snapshot"]["routing"] is None
    assert re.search(r'data-testid="not-agent"\s*>', r.text)  # shown (not hidden)

    assert (await agent.get("/t/acme/wallboard")).status_code == 403
    assert (await admin.get("/t/acme/desktop")).status_code == 403  # administrators do not take calls
    anonymous = world.client()
    r = await anonymous.get("/t/acme/desktop")
    assert r.status_code in (303, 307) and "/t/acme/login" in r.headers["location"]


# --------------------------------------------------------------------------- snapshot + events


#: What the incoming-call card shows of a ringing call (the media flags of a call nobody is on yet,
#: such as the previous agent's recording stopping after a transfer, are not part of the offer).
RINGING_FIELDS = (
    "call_id",
    "token",
    "direction",
    "kind",
    "state",
    "number",
    "tenant_number",
    "queue",
    "queue_id",
    "started_at",
    "queued_at",
)


def _view_of_snapshot(snapshot: dict[str, Any]) -> dict[str, Any]:
    routing = snapshot["routing"]
    return {
        "routing": None if routing is None else {k: routing[k] for k in ("status", "break_reason", "state")},
        "current": snapshot["current"],
        "ringing": sorted(({k: c[k] for k in RINGING_FIELDS} for c in snapshot["ringing"]), key=lambda c: c["call_id"]),
    }


_view_of_state = _view_of_snapshot  # the reducer's state has the same shape (plus fields not compared)


def _python_replay(snapshot: dict[str, Any], events: list[dict[str, Any]], *, strict: bool = False) -> dict[str, Any]:
    """The contract in a few lines of Python: what each event means for the desktop's state.

    The desktop also drops its ringing calls when the agent leaves the ``reserved`` state (a call
    rings only for a reserved agent); ``strict`` reads the call events alone."""
    routing = dict(snapshot["routing"]) if snapshot["routing"] else None
    current = snapshot["current"]
    ringing = {c["call_id"]: c for c in snapshot["ringing"]}
    for event in events:
        kind, d = event["type"], event["data"]
        if kind == "agent.state_changed" and routing:
            routing["state"] = d["state"]
            if not strict and d["previous"] == "reserved" and d["state"] != "reserved":
                ringing.clear()
        elif kind == "agent.status_changed" and routing:
            routing["status"], routing["break_reason"] = d["status"], d.get("reason")
        elif kind == "call.offered":
            ringing[d["call_id"]] = {k: v for k, v in d.items() if k != "expires_at"}
        elif kind in ("call.offer_ended",):
            ringing.pop(d["call_id"], None)
        elif kind in ("call.connected", "call.dialing", "call.consult_ended"):
            current = dict(d)
            ringing.pop(d["call_id"], None)
        elif kind == "call.updated" and current and current["call_id"] == d["call_id"]:
            current = {**current, **d}
        elif kind in ("call.wrap_up", "call.ended"):
            if current and current["call_id"] == d["call_id"]:
                current = None
            ringing.pop(d["call_id"], None)
    return _view_of_snapshot({"routing": routing, "current": current, "ringing": list(ringing.values())})


def _javascript_replay(snapshot: dict[str, Any], events: list[dict[str, Any]], checkpoints: list[int]) -> list[Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (it builds the browser assets); the Python replay ran")
    script = (
        f"import {{ initialState, reduce }} from {json.dumps(DESKTOP_JS.as_uri())};\n"
        "let text = ''; for await (const chunk of process.stdin) text += chunk;\n"
        "const input = JSON.parse(text);\n"
        "let state = reduce(initialState(), { type: 'snapshot', data: input.snapshot });\n"
        "const out = []; let i = 0;\n"
        "for (const upto of input.checkpoints) { while (i < upto) state = reduce(state, input.events[i++]);"
        " out.push(state); }\n"
        "process.stdout.write(JSON.stringify(out));\n"
    )
    done = subprocess.run(
        [node, "--input-type=module", "-e", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        input=json.dumps({"snapshot": snapshot, "events": events, "checkpoints": checkpoints}),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_snapshot_plus_agent_events_equals_a_fresh_snapshot(world):
    cc = await build_call_center(world, queue={"offer_timeout_s": 20, "wrap_up_s": 60})
    second = await make_queue(world, cc.tenant, "billing")
    cc.pbx.register_number("+8613700000009", ExternalParty(answer_after=None))
    agent_id = cc.agents["agent1"]
    client = await world.login(cc.tenant, "agent1")
    hub = world.ctx.services["hub"]
    base = f"/api/v1/t/{cc.tenant.slug}"

    first = (await client.get(f"{base}/desktop")).json()
    subscription, _, _ = hub.subscribe(cc.tenant.id, [f"agent:{agent_id}"], f"{hub.epoch}.{hub.last_seq(cc.tenant.id)}")
    events: list[dict[str, Any]] = []
    checkpoints: list[tuple[str, int, dict[str, Any]]] = []

    def drain() -> None:
        while not subscription.queue.empty():
            message = subscription.queue.get_nowait()
            assert message is not None, "the subscription overflowed"
            events.append({"type": message.type, "data": message.data, "ts": message.published_at})

    async def checkpoint(name: str) -> dict[str, Any]:
        await cc.run(0.5)
        fresh = (await client.get(f"{base}/desktop")).json()
        drain()
        checkpoints.append((name, len(events), fresh))
        return fresh

    async def post(path: str, body: Any = None, local: bool = False) -> dict[str, Any]:
        r = await client.post(f"{base}{path}", json=body) if body is not None else await client.post(f"{base}{path}")
        assert r.status_code in (200, 201), (path, r.text)
        drain()
        if local and r.json().get("call"):  # what the desktop does with a command's answer
            events.append({"type": "call.updated", "data": r.json()["call"]})
        return r.json()

    async def status(value: str, reason: str | None = None) -> None:
        await post(f"/routing/agents/{agent_id}/status", {"status": value, **({"reason": reason} if reason else {})})

    await status("available")
    await checkpoint("available")
    cc.call(talk_time=600.0, patience=90.0)
    await cc.run(5)
    fresh = await checkpoint("ringing")
    assert len(fresh["ringing"]) == 1
    call_id = fresh["ringing"][0]["call_id"]
    await post(f"/calls/{call_id}/answer")
    await cc.run(2)
    assert (await checkpoint("connected"))["current"]["state"] == "connected"
    await post(f"/calls/{call_id}/hold", local=True)
    assert (await checkpoint("held"))["current"]["held"] is True
    await post(f"/calls/{call_id}/resume", local=True)
    await post(f"/calls/{call_id}/mute", local=True)
    assert (await checkpoint("muted"))["current"]["muted"] is True
    await post(f"/calls/{call_id}/transfer", {"queue_id": str(second)})
    await cc.run(1)
    fresh = await checkpoint("transferred")
    assert fresh["current"] is None
    # A transfer has no wrap-up time: the agent is free at once, and the call rings for them again
    # from the second queue (they serve it too).
    assert [c["call_id"] for c in fresh["ringing"]] == [call_id]
    await cc.stored()
    await post(f"/calls/{call_id}/wrap-up", {"code": "resolved", "notes": "转账务组"})
    await checkpoint("wrapped up")
    await post(f"/calls/{call_id}/reject")
    await cc.run(0.5)
    await checkpoint("rejected")
    await status("break", "meal")
    fresh = await checkpoint("on a break")
    assert fresh["routing"]["status"] == "break" and fresh["routing"]["break_reason"] == "meal"
    await cc.run(120)  # the caller gives up
    assert (await checkpoint("caller gone"))["ringing"] == []
    await status("available")
    dialled = await post("/calls/outbound", {"number": "13700000009"})
    fresh = await checkpoint("dialling")
    assert fresh["current"]["call_id"] == dialled["call"]["call_id"] and fresh["current"]["kind"] == "outbound"
    await post(f"/calls/{dialled['call']['call_id']}/hangup")
    await cc.run(1)
    assert (await checkpoint("dial abandoned"))["current"] is None
    cc.call(talk_time=600.0)  # rings for the agent, who does not pick up; the caller hangs up meanwhile
    await cc.run(8)
    ringing = (await checkpoint("ringing again"))["ringing"]
    assert len(ringing) == 1
    cc.pbx.remote_hangup(cc.controller.by_id[uuid.UUID(ringing[0]["call_id"])].customer_leg)
    await cc.run(1)
    assert (await checkpoint("caller gave up while ringing"))["ringing"] == []
    await status("offline")
    await checkpoint("signed off")

    kinds = {e["type"] for e in events}
    assert {
        "agent.status_changed",
        "agent.state_changed",
        "call.offered",
        "call.offer_ended",
        "call.connected",
        "call.wrap_up",
        "call.dialing",
        "call.updated",
    } <= kinds, kinds
    hub.unsubscribe(subscription)
    for name, upto, fresh in checkpoints:
        assert _python_replay(first, events[:upto]) == _view_of_snapshot(fresh), name
    states = _javascript_replay(first, events, [upto for _, upto, _ in checkpoints])
    for (name, _upto, fresh), state in zip(checkpoints, states, strict=True):
        assert _view_of_state(state) == _view_of_snapshot(fresh), name
    # The call events alone say as much, up to the gap test_the_caller_hanging_up_ends_the_offer pins.
    differ = [
        name
        for name, upto, fresh in checkpoints
        if _python_replay(first, events[:upto], strict=True) != _view_of_snapshot(fresh)
    ]
    assert not differ or differ[0] == "caller gave up while ringing", differ


async def test_the_caller_hanging_up_ends_the_offer_on_the_agents_desktop(world):
    cc = await build_call_center(world)
    await cc.available("agent1")
    hub = world.ctx.services["hub"]
    subscription, _, _ = hub.subscribe(cc.tenant.id, [f"agent:{cc.agents['agent1']}"])
    cc.call(talk_time=600.0)
    await cc.run(8)
    offered = [m for m in _messages(subscription) if m.type == "call.offered"]
    assert len(offered) == 1
    call_id = offered[0].data["call_id"]
    cc.pbx.remote_hangup(cc.controller.by_id[uuid.UUID(call_id)].customer_leg)
    await cc.run(1)
    told = [m for m in _messages(subscription) if m.type in ("call.offer_ended", "call.ended")]
    hub.unsubscribe(subscription)
    assert [m.data["call_id"] for m in told][:1] == [call_id]


def _messages(subscription: Any) -> list[Any]:
    out = []
    while not subscription.queue.empty():
        out.append(subscription.queue.get_nowait())
    return out
