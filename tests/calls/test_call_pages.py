"""The call history pages (list and detail with timeline and recording) and the IVR flow administration.

Who may open what, that agents see only their own calls, that the recording player is offered only
with ``recordings.play`` (download only with ``recordings.download``), and that the flow editor saves
a new version for a good definition and nothing at all for a bad one (error shown, text kept).
"""

from __future__ import annotations

import html
import json
import re
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from calls.call_support import DID, build_call_center, make_flow
from kefu.audit.models import AccessLogEntry
from kefu.contacts.models import Call, IvrFlow, TenantNumber
from kefu.core.db import bind_tenant, commit
from kefu.core.ids import new_id
from support import PASSWORD

FLOW = {"start": "q", "nodes": {"q": {"type": "queue", "queue": "general"}}}


def _field(text: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', text)
    assert match, f"no {name} field"
    return match.group(1)


def _form_token(text: str, testid: str) -> str:
    """The CSRF token inside one particular form of the page (not the sign-out form's)."""
    form = re.search(rf'<form[^>]*data-testid="{testid}"[^>]*>(.*?)</form>', text, re.S)
    assert form, f"no {testid} form"
    token = _field(form.group(1), "csrf_token")
    assert token, f"empty CSRF token in {testid}"
    return token


async def _browser(world, username: str = "admin", slug: str = "acme"):
    """A client signed in through the sign-in page: a session cookie and no CSRF header."""
    c = world.client()
    page = await c.get(f"/t/{slug}/login")
    r = await c.post(
        f"/t/{slug}/login",
        data={"username": username, "password": PASSWORD, "csrf_token": _field(page.text, "csrf_token")},
    )
    assert r.status_code == 303, r.text
    return c


async def _recorded_call(cc, username: str = "agent1", talk: float = 20.0) -> str:
    """A real call on the simulated PBX, answered by ``username`` from the desktop API, recorded, ended."""
    await cc.available(username)
    client = await cc.world.login(cc.tenant, username)
    cc.call(talk_time=talk)
    await cc.run(5)
    ringing = (await client.get(f"/api/v1/t/{cc.tenant.slug}/desktop")).json()["ringing"]
    assert ringing, "the call did not ring"
    call_id = ringing[0]["call_id"]
    r = await client.post(f"/api/v1/t/{cc.tenant.slug}/calls/{call_id}/answer")
    assert r.status_code == 200, r.text
    await cc.run(talk + 15)
    await cc.stored()
    return call_id


async def _stored_call(
    world,
    tenant_id,
    *,
    agent_id=None,
    direction="inbound",
    outcome="answered",
    days_ago: int = 0,
    wrap_up_code=None,
    survey_score=None,
) -> uuid.UUID:
    call_id = new_id()
    started = world.ctx.now() - timedelta(days=days_ago)
    async with world.session() as s:
        await bind_tenant(s, tenant_id)
        s.add(
            Call(
                id=call_id,
                tenant_id=tenant_id,
                pbx_call_id=uuid.uuid4().hex,
                direction=direction,
                number_enc=None,
                number_masked="139****0001",
                tenant_number=DID,
                state="ended",
                outcome=outcome,
                agent_id=agent_id,
                started_at=started,
                answered_at=started,
                ended_at=started,
                wait_seconds=12.0,
                talk_seconds=95.0,
                wrap_up_code=wrap_up_code,
                survey_score=survey_score,
            )
        )
        await commit(s)
    return call_id


def _row_ids(text: str) -> set[str]:
    return set(re.findall(r'data-testid="call-row" data-call-id="([^"]+)"', text))


async def _versions(world, tenant_id, flow_key) -> int:
    async with world.session() as s:
        await bind_tenant(s, tenant_id)
        count = (
            await s.execute(sa.select(sa.func.count()).select_from(IvrFlow).where(IvrFlow.flow_key == flow_key))
        ).scalar_one()
        await s.commit()
    return count


async def _flow_count(world, tenant_id) -> int:
    async with world.session() as s:
        await bind_tenant(s, tenant_id)
        count = (await s.execute(sa.select(sa.func.count()).select_from(IvrFlow))).scalar_one()
        await s.commit()
    return count


# --------------------------------------------------------------------------- the call list


async def test_the_call_list_shows_agents_their_own_calls_and_supervisors_all_with_filters(world):
    cc = await build_call_center(world, agents={"agent1": None, "agent2": None})
    t = cc.tenant
    mine = await _stored_call(world, t.id, agent_id=cc.agents["agent1"], wrap_up_code="resolved", survey_score=5)
    theirs = await _stored_call(world, t.id, agent_id=cc.agents["agent2"], direction="outbound")
    old = await _stored_call(world, t.id, agent_id=cc.agents["agent2"], outcome="abandoned", days_ago=3)
    nobody = await _stored_call(world, t.id, outcome="ivr_abandoned")
    await world.user(t, "boss", ["supervisor"])
    await world.user(t, "clerk", ["back_office"])

    agent = await _browser(world, "agent1")
    r = await agent.get("/t/acme/calls")
    assert r.status_code == 200, r.text
    assert _row_ids(r.text) == {str(mine)}  # only the calls they handled
    assert 'data-testid="nav-calls"' in r.text and 'data-testid="nav-ivr"' not in r.text
    assert 'data-testid="filter-agent"' not in r.text and 'data-testid="own-calls-only"' in r.text
    assert "139****0001" in r.text and "已解决" in r.text and "1:35" in r.text  # masked number, wrap-up, talk
    # An agent cannot reach another agent's call, nor widen the list with the agent filter.
    assert (await agent.get(f"/t/acme/calls/{theirs}")).status_code == 404
    r = await agent.get("/t/acme/calls", params={"agent": str(cc.agents["agent2"])})
    assert _row_ids(r.text) == {str(mine)}
    assert (await agent.get(f"/t/acme/calls/{mine}")).status_code == 200

    boss = await _browser(world, "boss")
    r = await boss.get("/t/acme/calls")
    assert r.status_code == 200
    ids = re.findall(r'data-testid="call-row" data-call-id="([^"]+)"', r.text)
    assert ids == [str(nobody), str(old), str(theirs), str(mine)]  # newest first
    assert 'data-testid="filter-agent"' in r.text
    r = await boss.get("/t/acme/calls", params={"agent": str(cc.agents["agent2"])})
    assert _row_ids(r.text) == {str(theirs), str(old)}
    r = await boss.get("/t/acme/calls", params={"direction": "outbound"})
    assert _row_ids(r.text) == {str(theirs)}
    r = await boss.get("/t/acme/calls", params={"outcome": "abandoned", "agent": ""})
    assert _row_ids(r.text) == {str(old)}
    today = world.ctx.now().astimezone(ZoneInfo(t.tenant.timezone)).date()
    r = await boss.get("/t/acme/calls", params={"day": today.isoformat()})
    assert _row_ids(r.text) == {str(mine), str(theirs), str(nobody)}
    r = await boss.get("/t/acme/calls", params={"day": (today - timedelta(days=3)).isoformat()})
    assert _row_ids(r.text) == {str(old)}
    assert (await boss.get("/t/acme/calls", params={"day": "2024-02-30"})).status_code == 422
    assert (await boss.get("/t/acme/calls", params={"agent": "nobody"})).status_code == 422

    # In English too.
    r = await boss.get("/t/acme/calls", headers={"accept-language": "en"})
    assert "Calls" in r.text and "Outcome" in r.text and "Abandoned" in r.text

    # Others are refused: no calls.read, and another organisation's call does not exist for them.
    clerk = await _browser(world, "clerk")
    assert (await clerk.get("/t/acme/calls")).status_code == 403
    assert (await clerk.get(f"/t/acme/calls/{mine}")).status_code == 403
    assert 'data-testid="nav-calls"' not in (await clerk.get("/t/acme/")).text
    beta = await world.tenant("beta")
    await world.user(beta, "spy", ["supervisor"])
    spy = await _browser(world, "spy", "beta")
    assert (await spy.get(f"/t/beta/calls/{mine}")).status_code == 404
    assert _row_ids((await spy.get("/t/beta/calls")).text) == set()
    r = await world.client().get("/t/acme/calls")
    assert r.status_code in (303, 307) and "/t/acme/login" in r.headers["location"]


async def test_the_call_list_pages_through_older_calls(world):
    cc = await build_call_center(world)
    ids = [await _stored_call(world, cc.tenant.id, agent_id=cc.agents["agent1"]) for _ in range(52)]
    admin = await _browser(world)
    first = await admin.get("/t/acme/calls")
    assert len(_row_ids(first.text)) == 50
    link = re.search(r'href="\?([^"]+)" data-testid="next-page"', first.text)
    assert link
    second = await admin.get("/t/acme/calls?" + html.unescape(link.group(1)))
    assert second.status_code == 200
    assert _row_ids(second.text) == {str(ids[0]), str(ids[1])}
    assert 'data-testid="next-page"' not in second.text


# --------------------------------------------------------------------------- the call detail and its recording


async def test_the_call_detail_shows_the_timeline_and_the_player_only_with_recordings_play(world):
    cc = await build_call_center(world)
    call_id = await _recorded_call(cc)
    t = cc.tenant
    await world.user(t, "boss", ["supervisor"])
    await world.user(t, "qa1", ["qa_inspector"])
    src = f"/api/v1/t/acme/calls/{call_id}/recording"

    async def logged() -> list[tuple[str, str]]:
        async with world.session() as s:
            await bind_tenant(s, t.id)
            rows = (await s.execute(sa.select(AccessLogEntry).order_by(AccessLogEntry.seq))).scalars().all()
            await s.commit()
        return [(r.action, r.resource_type) for r in rows]

    before = await logged()
    boss = await _browser(world, "boss")
    r = await boss.get(f"/t/acme/calls/{call_id}")
    assert r.status_code == 200, r.text
    types = re.findall(r'<li data-type="([^"]+)"', r.text)
    assert types[0] == "call.started" and "call.queued" in types and "call.connected" in types
    assert types[-1] == "call.ended"
    assert "138****5678" in r.text and "13812345678" not in r.text
    player = re.search(r'<audio controls preload="none" src="([^"]+)" data-testid="recording-player"', r.text)
    assert player and player.group(1) == src
    assert f'href="{src}?download=true"' in r.text
    assert "<script>" not in r.text and "style=" not in r.text  # CSP: nothing inline
    assert await logged() == before  # opening the page plays nothing; the player fetches on demand
    audio = await boss.get(src)
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    assert (await logged())[len(before) :] == [("play", "recording")]

    qa = await _browser(world, "qa1")  # plays, may not download
    r = await qa.get(f"/t/acme/calls/{call_id}")
    assert 'data-testid="recording-player"' in r.text and 'data-testid="recording-download"' not in r.text

    for who in ("admin", "agent1"):  # read the call, may not listen
        client = await _browser(world, who)
        r = await client.get(f"/t/acme/calls/{call_id}")
        assert r.status_code == 200, (who, r.text)
        assert "<audio" not in r.text and src not in r.text
        assert 'data-testid="recording-not-allowed"' in r.text
    r = await client.get(f"/t/acme/calls/{call_id}", headers={"accept-language": "en"})
    assert "listening to recordings needs the 'recordings.play' permission" in html.unescape(r.text)

    unrecorded = await _stored_call(world, t.id)
    r = await boss.get(f"/t/acme/calls/{unrecorded}")
    assert 'data-testid="no-recording"' in r.text and "<audio" not in r.text
    assert (await boss.get(f"/t/acme/calls/{uuid.uuid4()}")).status_code == 404


# --------------------------------------------------------------------------- IVR flows


async def test_only_call_managers_open_the_ivr_pages(world):
    cc = await build_call_center(world, flow=FLOW)
    await world.user(cc.tenant, "boss", ["supervisor"])
    admin = await _browser(world)
    r = await admin.get("/t/acme/admin/ivr")
    assert r.status_code == 200, r.text
    assert 'data-testid="nav-ivr"' in r.text and 'data-testid="flow-row"' in r.text and ">main<" in r.text
    assert DID in r.text
    async with world.session() as s:
        await bind_tenant(s, cc.tenant.id)
        flow_key = (await s.execute(sa.select(IvrFlow.flow_key))).scalar_one()
        await s.commit()
    assert re.search(rf'<option value="{flow_key}" selected>main</option>', r.text)
    r = await admin.get("/t/acme/admin/ivr", headers={"accept-language": "en"})
    assert "IVR flows" in r.text and "New flow" in r.text
    for who in ("boss", "agent1"):
        client = await _browser(world, who)
        assert (await client.get("/t/acme/admin/ivr")).status_code == 403
        assert (await client.get(f"/t/acme/admin/ivr/flows/{flow_key}")).status_code == 403
        assert 'data-testid="nav-ivr"' not in (await client.get("/t/acme/")).text
    beta = await world.tenant("beta")
    other = await make_flow(world, beta)
    assert (await admin.get(f"/t/acme/admin/ivr/flows/{other}")).status_code == 404


async def test_the_flow_editor_saves_a_new_version_or_nothing(world):
    cc = await build_call_center(world, flow=FLOW)
    t = cc.tenant
    async with world.session() as s:
        await bind_tenant(s, t.id)
        flow_key = (await s.execute(sa.select(IvrFlow.flow_key))).scalar_one()
        await s.commit()
    admin = await _browser(world)
    url = f"/t/acme/admin/ivr/flows/{flow_key}"
    page = await admin.get(url)
    assert page.status_code == 200
    assert len(re.findall(r'data-testid="flow-version-row"', page.text)) == 1
    token = _form_token(page.text, "flow-form")
    assert await _versions(world, t.id, flow_key) == 1

    # Not JSON: the error is next to the editor, the text is kept, nothing is saved.
    r = await admin.post(url, data={"csrf_token": token, "name": "main", "definition": '{"start": "q",'})
    assert r.status_code == 422 and 'data-testid="flow-error"' in r.text and "不是有效的 JSON" in r.text
    kept = re.search(r'data-testid="flow-definition">(.*?)</textarea>', r.text, re.S)
    assert kept and html.unescape(kept.group(1)) == '{"start": "q",'
    # Valid JSON but not a valid flow: every problem listed next to the editor, the text kept, nothing saved.
    missing_queue = {"start": "q", "nodes": {"q": {"type": "queue", "queue": "no-such-queue"}}}
    loops = {
        "start": "menu",
        "nodes": {
            "menu": {"type": "menu", "prompt": {"text": "按1"}, "options": {"1": "loop"}, "no_input": "loop"},
            "loop": {"type": "play", "prompt": {"text": "再听一遍"}, "next": "loop"},
            "lost": {"type": "hangup"},
        },
    }
    for bad, expected in (
        (missing_queue, ["queue 'no-such-queue' does not exist"]),
        (loops, ["node 'lost' cannot be reached", "node 'loop' loops without an exit"]),
    ):
        text = json.dumps(bad, ensure_ascii=False, indent=2)
        r = await admin.post(url, data={"csrf_token": token, "name": "main", "definition": text})
        assert r.status_code == 422, r.text
        problems = re.search(r'<ul class="problems" data-testid="flow-problems">(.*?)</ul>', r.text, re.S)
        assert problems, r.text
        listed = html.unescape(problems.group(1))
        assert all(e in listed for e in expected), listed
        kept = re.search(r'data-testid="flow-definition">(.*?)</textarea>', r.text, re.S)
        assert kept and html.unescape(kept.group(1)) == text
        assert await _versions(world, t.id, flow_key) == 1
    # Without the CSRF token: refused, nothing saved.
    good = json.dumps(
        {
            "start": "hello",
            "nodes": {
                "hello": {"type": "play", "prompt": {"text": "您好"}, "next": "q"},
                "q": {"type": "queue", "queue": "general"},
            },
        }
    )
    r = await admin.post(url, data={"name": "main", "definition": good})
    assert r.status_code == 403
    assert await _versions(world, t.id, flow_key) == 1
    # A good definition: version 2, current, shown first.
    r = await admin.post(url, data={"csrf_token": token, "name": "main", "definition": good})
    assert r.status_code == 303 and r.headers["location"].endswith("?saved=1")
    assert await _versions(world, t.id, flow_key) == 2
    page = await admin.get(r.headers["location"])
    assert 'data-testid="flow-saved"' in page.text
    assert re.findall(r'data-testid="flow-version-row" data-version="(\d+)"', page.text) == ["2", "1"]
    async with world.session() as s:
        await bind_tenant(s, t.id)
        current = (await s.execute(sa.select(IvrFlow).where(IvrFlow.is_current.is_(True)))).scalar_one()
        await s.commit()
    assert current.version == 2 and current.definition["start"] == "hello"


async def test_new_flows_and_number_bindings(world):
    cc = await build_call_center(world)
    t = cc.tenant
    admin = await _browser(world)
    page = await admin.get("/t/acme/admin/ivr")
    token = _form_token(page.text, "new-flow-form")
    assert _form_token(page.text, "number-form") == token
    assert await _flow_count(world, t.id) == 0

    r = await admin.post(
        "/t/acme/admin/ivr/flows",
        data={"csrf_token": token, "name": "after hours", "definition": '{"start": "a", "nodes": {}}'},
    )
    assert r.status_code == 422 and 'data-testid="flow-error"' in r.text and "after hours" in r.text
    r = await admin.post("/t/acme/admin/ivr/flows", data={"csrf_token": token, "name": "  ", "definition": "{}"})
    assert r.status_code == 422 and 'data-testid="flow-error"' in r.text
    r = await admin.post("/t/acme/admin/ivr/flows", data={"name": "x", "definition": json_flow()})
    assert r.status_code == 403  # no CSRF token
    assert await _flow_count(world, t.id) == 0

    r = await admin.post(
        "/t/acme/admin/ivr/flows", data={"csrf_token": token, "name": "hotline", "definition": json_flow()}
    )
    assert r.status_code == 303, r.text
    flow_key = uuid.UUID(re.search(r"/flows/([0-9a-f-]+)", r.headers["location"]).group(1))
    assert await _versions(world, t.id, flow_key) == 1
    r = await admin.post(
        "/t/acme/admin/ivr/flows", data={"csrf_token": token, "name": "hotline", "definition": json_flow()}
    )
    assert r.status_code == 409 and "already exists" in r.text
    assert await _flow_count(world, t.id) == 1

    async with world.session() as s:
        await bind_tenant(s, t.id)
        number_id = (await s.execute(sa.select(TenantNumber.id))).scalar_one()
        await s.commit()
    bind = f"/t/acme/admin/ivr/numbers/{number_id}"
    r = await admin.post(bind, data={"flow_id": str(flow_key)})
    assert r.status_code == 403  # no CSRF token

    async def bound() -> uuid.UUID | None:
        async with world.session() as s:
            await bind_tenant(s, t.id)
            value = (await s.execute(sa.select(TenantNumber.flow_id))).scalar_one()
            await s.commit()
        return value

    assert await bound() is None
    r = await admin.post(bind, data={"csrf_token": token, "flow_id": str(flow_key)})
    assert r.status_code == 303
    assert await bound() == flow_key
    page = await admin.get(r.headers["location"])
    assert 'data-testid="ivr-saved"' in page.text
    assert re.search(rf'<option value="{flow_key}" selected>hotline</option>', page.text)
    beta = await world.tenant("beta")
    foreign = await make_flow(world, beta)
    r = await admin.post(bind, data={"csrf_token": token, "flow_id": str(foreign)})
    assert r.status_code == 404 and await bound() == flow_key  # another organisation's flow does not exist
    r = await admin.post(f"/t/acme/admin/ivr/numbers/{uuid.uuid4()}", data={"csrf_token": token, "flow_id": ""})
    assert r.status_code == 404
    r = await admin.post(bind, data={"csrf_token": token, "flow_id": ""})
    assert r.status_code == 303 and await bound() is None
    await world.user(t, "boss", ["supervisor"])
    supervisor = await _browser(world, "boss")
    r = await supervisor.post(
        bind,
        data={"csrf_token": _field((await supervisor.get("/t/acme/")).text, "csrf_token"), "flow_id": str(flow_key)},
    )
    assert r.status_code == 403 and await bound() is None


def json_flow() -> str:
    return json.dumps({"start": "q", "nodes": {"q": {"type": "queue", "queue": "general"}}})
