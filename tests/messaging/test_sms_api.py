"""Staff API: lists with masked numbers, filters, keyset pages, history, retry of dead messages."""

from __future__ import annotations

from kefu.messaging import PermanentSmsError
from messaging.sms_support import at, load, queue


async def test_the_list_masks_every_number(world, ctx, acme, relay):
    await queue(
        world,
        acme,
        to_number="13812341234",
        purpose="missed_call_notice",
        body="未接来电：13912345678 于 2026-11-28 16:20 来电，请回电。",
        reference_type="call",
        reference_id="call-1",
        dedupe_key="missed:13912345678",
    )
    await relay.run_once(at(ctx))
    admin = await world.login(acme)
    r = await admin.get("/api/v1/t/acme/sms/messages")
    assert r.status_code == 200, r.text
    [item] = r.json()["items"]
    assert item["to_number"] == "138****1234"
    assert item["body"] == "未接来电：139****5678 于 2026-11-28 16:20 来电，请回电。"
    assert item["dedupe_key"] == "missed:139****5678"
    assert (item["status"], item["attempts"], item["reference_type"], item["reference_id"]) == (
        "sent",
        1,
        "call",
        "call-1",
    )
    assert "13812341234" not in r.text and "13912345678" not in r.text
    detail = await admin.get(f"/api/v1/t/acme/sms/messages/{item['id']}")
    assert [h["status"] for h in detail.json()["history"]] == ["queued", "sending", "sent"]
    assert "13812341234" not in detail.text


async def test_filters_and_keyset_pages(world, ctx, acme, relay, port):
    ids = []
    for i in range(5):
        ids.append(
            (
                await queue(
                    world,
                    acme,
                    to_number=f"1381234000{i}",
                    purpose="survey" if i % 2 else "test",
                    reference_type="work_order",
                    reference_id=f"wo-{i}",
                )
            ).id
        )
    port.script = [PermanentSmsError("bad")]  # the oldest message dies
    await relay.run_once(at(ctx))
    supervisor = await world.user(acme, "sup1", ["supervisor"])
    client = await world.login(acme, supervisor.username)
    seen = []
    after = None
    while True:
        r = await client.get("/api/v1/t/acme/sms/messages", params={"limit": 2, **({"after": after} if after else {})})
        assert r.status_code == 200, r.text
        seen += [i["id"] for i in r.json()["items"]]
        after = r.json()["next_after"]
        if after is None:
            break
    assert seen == [str(i) for i in reversed(ids)]  # newest first, each once
    surveys = (await client.get("/api/v1/t/acme/sms/messages?purpose=survey")).json()["items"]
    assert {i["reference_id"] for i in surveys} == {"wo-1", "wo-3"}
    dead = (await client.get("/api/v1/t/acme/sms/messages?status=dead")).json()["items"]
    assert [i["id"] for i in dead] == [str(ids[0])]
    by_ref = (await client.get("/api/v1/t/acme/sms/messages?reference_type=work_order&reference_id=wo-2")).json()
    assert [i["id"] for i in by_ref["items"]] == [str(ids[2])]
    r = await client.get("/api/v1/t/acme/sms/messages?status=lost")
    assert r.status_code == 422


async def test_retry_of_a_dead_message_through_the_api(world, ctx, acme, relay, port):
    port.script = [PermanentSmsError("provider refused (401): bad credentials")]
    message = await queue(world, acme)
    await relay.run_once(at(ctx))
    admin = await world.login(acme)
    supervisor = await world.user(acme, "sup1", ["supervisor"])
    sup = await world.login(acme, supervisor.username)
    r = await sup.post(f"/api/v1/t/acme/sms/messages/{message.id}/retry")
    assert r.status_code == 403 and "sms.manage" in r.json()["detail"]
    r = await admin.post(f"/api/v1/t/acme/sms/messages/{message.id}/retry")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["attempts"]) == ("queued", 0)
    r = await admin.post(f"/api/v1/t/acme/sms/messages/{message.id}/retry")
    assert r.status_code == 409 and "Only dead messages" in r.json()["detail"]
    await relay.run_once(at(ctx, 1))
    assert (await load(world, acme, message.id)).status == "sent"


async def test_agents_cannot_read_the_outbox(world, acme):
    await queue(world, acme)
    await world.user(acme, "agent1", ["agent"])
    agent = await world.login(acme, "agent1")
    for path in ("/api/v1/t/acme/sms/messages", "/api/v1/t/acme/sms/inbound"):
        r = await agent.get(path)
        assert r.status_code == 403 and "sms.read" in r.json()["detail"]
