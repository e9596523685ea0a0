"""The SMS outbox: queueing, the relay (retries, leases, fencing), replies and delivery reports."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kefu.audit.models import AuditEvent
from kefu.core.actor import Actor
from kefu.core.db import bind_tenant
from kefu.core.errors import Conflict, InvalidInput, NotFound
from kefu.messaging import (
    InboundSms,
    OutgoingSms,
    PermanentSmsError,
    SendResult,
    SmsInbound,
    SmsMessage,
    TransientSmsError,
    do_receive_inbound,
    do_record_delivery,
    do_retry_sms,
    queue_sms,
    register_reply_handler,
    reply_handler_for,
    sent_recently,
    unregister_reply_handler,
)
from kefu.messaging.adapters.logfile import LogFileSmsAdapter, read_outbox_file
from kefu.messaging.relay import OutboxRelay
from kefu.messaging.rules import backoff_delay
from messaging.sms_support import all_messages, at, load, queue

# --------------------------------------------------------------------------- queueing


async def test_queueing_normalises_encrypts_and_masks_the_number(world, ctx, acme):
    message = await queue(
        world,
        acme,
        to_number="138 1234 1234",
        body="  您的工单已处理  ",
        purpose="follow_up",
        reference_type="work_order",
        reference_id="wo-1",
        expects_reply=True,
    )
    row = await load(world, acme, message.id)
    crypto = ctx.pii(acme.tenant)
    assert crypto.open(row.to_number_enc, row_id=row.id, field="to_number") == "+8613812341234"
    assert row.to_number_index == crypto.phone_index("+8613812341234")
    assert row.to_number_masked == "138****1234"
    assert crypto.open(row.body_enc, row_id=row.id, field="body") == "您的工单已处理"
    assert "13812341234" not in row.to_number_enc and "工单" not in row.body_enc
    assert (row.status, row.attempts, row.sender_id, row.expects_reply) == ("queued", 0, "kefu", True)
    assert (row.reference_type, row.reference_id) == ("work_order", "wo-1")
    assert row.next_attempt_at == row.created_at == ctx.now()


@pytest.mark.parametrize(
    ("field", "kw", "words"),
    [
        ("to_number", {"to_number": "not a number"}, "not a phone number"),
        ("to_number", {"to_number": ""}, "empty"),
        ("body", {"body": "   "}, "empty"),
        ("body", {"body": "字" * 501}, "limit is 500"),
        ("purpose", {"purpose": "Missed Call"}, "purpose"),
        ("reference_type", {"reference_type": "Work Order"}, "reference_type"),
        ("dedupe_key", {"dedupe_key": "k" * 201}, "dedupe_key"),
    ],
)
async def test_queueing_refuses_bad_input_clearly(world, acme, field, kw, words):
    args = {"to_number": "13812341234", "body": "hi", "purpose": "test", **kw}
    async with world.session() as s:
        await bind_tenant(s, acme.id)
        with pytest.raises(InvalidInput) as error:
            await queue_sms(s, tenant=acme.tenant, **args)
        await s.commit()
    assert words.lower() in error.value.detail.lower()
    assert error.value.extra["errors"][0]["field"] == field
    assert await all_messages(world, acme) == []


async def test_a_500_character_text_is_accepted(world, acme):
    message = await queue(world, acme, body="字" * 500)
    assert message.status == "queued"


async def test_a_dedupe_key_queues_once(world, acme, relay, port):
    first = await queue(world, acme, dedupe_key="call-1:notice", body="first")
    again = await queue(world, acme, dedupe_key="call-1:notice", body="second", to_number="13900001111")
    assert again.id == first.id
    other = await queue(world, acme, dedupe_key="call-2:notice")
    assert other.id != first.id
    assert await relay.run_once() == 2
    third = await queue(world, acme, dedupe_key="call-1:notice")
    assert third.id == first.id and third.status == "sent"
    assert await relay.run_once() == 0
    assert [m.body for m in port.sent].count("first") == 1 and "second" not in [m.body for m in port.sent]


async def test_the_same_dedupe_key_in_another_tenant_is_another_message(world, acme):
    beta = await world.tenant("beta")
    a = await queue(world, acme, dedupe_key="k")
    b = await queue(world, beta, dedupe_key="k")
    assert a.id != b.id


async def test_a_rolled_back_transaction_sends_nothing(world, acme, relay, port):
    async with world.session() as s:
        await bind_tenant(s, acme.id)
        await queue_sms(s, tenant=acme.tenant, to_number="13812341234", body="hi", purpose="test")
        await s.rollback()
    assert await all_messages(world, acme) == []
    assert await relay.run_once() == 0
    assert port.sent == []


async def test_sent_recently_answers_per_number_and_purpose(world, ctx, acme, relay, port):
    t0 = ctx.now()
    await queue(world, acme, to_number="13812341234", purpose="missed_call_notice")

    async def ask(number: str, purpose: str = "missed_call_notice", since=None) -> bool:
        async with world.session() as s:
            await bind_tenant(s, acme.id)
            answer = await sent_recently(s, acme.tenant, number, purpose, since or t0 - timedelta(minutes=30))
            await s.commit()
        return answer

    assert await ask("+86 138-1234-1234")  # queued counts: two quick missed calls give one SMS
    assert not await ask("13900001111")
    assert not await ask("13812341234", purpose="callback_promise")
    assert not await ask("13812341234", since=t0 + timedelta(seconds=1))
    await relay.run_once()
    assert await ask("13812341234")  # sent counts
    with pytest.raises(InvalidInput):
        await ask("garbage")


async def test_dead_messages_do_not_count_as_sent_recently(world, ctx, acme, port):
    port.script = [PermanentSmsError("blocked")]
    await queue(world, acme, purpose="missed_call_notice")
    await OutboxRelay(ctx, port, concurrency=1).run_once()
    async with world.session() as s:
        await bind_tenant(s, acme.id)
        assert not await sent_recently(
            s, acme.tenant, "13812341234", "missed_call_notice", ctx.now() - timedelta(hours=1)
        )
        await s.commit()


# --------------------------------------------------------------------------- the relay


async def test_the_relay_sends_each_due_message_and_marks_it_sent(world, ctx, acme, relay, port):
    beta = await world.tenant("beta")
    ids = [(await queue(world, acme, to_number=f"1381234000{i}", body=f"msg {i}")).id for i in range(3)]
    beta_id = (await queue(world, beta, body="beta msg")).id
    now = at(ctx)
    assert await relay.run_once(now) == 4
    assert {m.to_number for m in port.sent} == {"+8613812340000", "+8613812340001", "+8613812340002", "+8613812341234"}
    assert {m.idempotency_key for m in port.sent} == {str(i) for i in [*ids, beta_id]}
    for row in await all_messages(world, acme):
        assert (row.status, row.attempts, row.provider) == ("sent", 1, "scripted")
        assert row.provider_message_id == f"prov-{row.id}"
        assert row.sent_at == now and row.next_attempt_at is None and row.lease_owner is None
        assert [h["status"] for h in row.history] == ["queued", "sending", "sent"]
    assert (await load(world, beta, beta_id)).status == "sent"
    assert await relay.run_once(at(ctx, 3600)) == 0
    assert len(port.sent) == 4


async def test_the_relay_claims_in_batches(world, ctx, acme, port):
    for i in range(5):
        await queue(world, acme, to_number=f"1381234000{i}")
    relay = OutboxRelay(ctx, port, batch_size=2, concurrency=1)
    assert [await relay.run_once() for _ in range(4)] == [2, 2, 1, 0]


async def test_a_transient_failure_is_retried_with_seeded_backoff(world, ctx, acme, relay, port):
    port.script = [TransientSmsError("provider answered 503"), TransientSmsError("timeout")]
    message = await queue(world, acme)
    t0 = at(ctx)
    expected = random.Random(7)
    first_delay = backoff_delay(1, expected)
    second_delay = backoff_delay(2, expected)
    assert timedelta(seconds=15) <= first_delay <= timedelta(seconds=30)
    assert timedelta(seconds=30) <= second_delay <= timedelta(seconds=60)

    assert await relay.run_once(t0) == 1
    row = await load(world, acme, message.id)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "provider answered 503")
    assert row.next_attempt_at == t0 + first_delay

    assert await relay.run_once(t0 + first_delay - timedelta(seconds=1)) == 0  # not due yet
    t1 = t0 + first_delay
    assert await relay.run_once(t1) == 1
    row = await load(world, acme, message.id)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 2, t1 + second_delay)

    t2 = t1 + second_delay
    assert await relay.run_once(t2) == 1
    row = await load(world, acme, message.id)
    assert (row.status, row.attempts, row.last_error, row.sent_at) == ("sent", 3, None, t2)
    assert len(port.sent) == 3 and len({m.idempotency_key for m in port.sent}) == 1
    assert [h["status"] for h in row.history] == ["queued", "sending", "failed", "sending", "failed", "sending", "sent"]


async def test_messages_die_after_the_last_attempt_and_staff_can_retry(world, ctx, acme, relay, port):
    port.script = [TransientSmsError("503")] * 3
    message = await queue(world, acme)
    now = at(ctx)
    for _ in range(3):
        assert await relay.run_once(now) == 1
        now = (await load(world, acme, message.id)).next_attempt_at or now
    row = await load(world, acme, message.id)
    assert (row.status, row.attempts, row.next_attempt_at, row.last_error) == ("dead", 3, None, "503")
    assert await relay.run_once(now + timedelta(days=1)) == 0

    admin = world.admin_actor(acme.id)
    async with world.session() as s:
        await bind_tenant(s, acme.id)
        retried = await do_retry_sms(s, admin, message.id)
        await s.commit()
    assert (retried.status, retried.attempts, retried.generation) == ("queued", 0, 0)
    assert await relay.run_once(at(ctx, 1)) == 1
    row = await load(world, acme, message.id)
    assert row.status == "sent"
    assert port.sent[-1].idempotency_key == str(message.id)  # never accepted: same key, provider dedupes
    async with world.session() as s:
        await bind_tenant(s, acme.id)
        events = (await s.execute(sa.select(AuditEvent).where(AuditEvent.action == "sms.retried"))).scalars().all()
        await s.commit()
    assert [e.target_id for e in events] == [str(message.id)]
    assert events[0].details["previous_error"] == "503"
    assert "13812341234" not in json.dumps(events[0].details)


async def test_only_dead_messages_can_be_retried_and_only_with_the_permission(world, acme):
    message = await queue(world, acme)
    async with world.session() as s:
        await bind_tenant(s, acme.id)
        with pytest.raises(Conflict, match="Only dead messages"):
            await do_retry_sms(s, world.admin_actor(acme.id), message.id)
        supervisor = Actor.system("sup", acme.id, frozenset({"sms.read"}))
        with pytest.raises(Exception, match=r"sms\.manage"):
            await do_retry_sms(s, supervisor, message.id)
        await s.rollback()


async def test_a_permanent_failure_is_dead_at_once(world, ctx, acme, relay, port):
    port.script = [PermanentSmsError("the provider refused the message (400): bad number")]
    message = await queue(world, acme)
    assert await relay.run_once(at(ctx)) == 1
    row = await load(world, acme, message.id)
    assert (row.status, row.attempts, row.next_attempt_at) == ("dead", 1, None)
    assert row.last_error.startswith("refused: the provider refused")
    assert await relay.run_once(at(ctx, 86400)) == 0


async def test_an_adapter_bug_is_retried_like_a_transient_error(world, ctx, acme, relay, port):
    port.script = [RuntimeError("boom")]
    message = await queue(world, acme)
    assert await relay.run_once(at(ctx)) == 1
    row = await load(world, acme, message.id)
    assert (row.status, row.last_error) == ("failed", "adapter error: RuntimeError")


async def test_an_expired_lease_is_claimed_again_and_the_stale_result_is_ignored(world, ctx, acme, port):
    message = await queue(world, acme)
    worker_a = OutboxRelay(ctx, port, owner="relay-a", lease_seconds=60, concurrency=1)
    worker_b = OutboxRelay(ctx, port, owner="relay-b", lease_seconds=60, concurrency=1)
    t0 = at(ctx)
    [stale] = await worker_a._claim(t0)  # A claims, then hangs (or its process dies)
    row = await load(world, acme, message.id)
    assert (row.status, row.lease_owner, row.fence, row.next_attempt_at) == (
        "sending",
        "relay-a",
        1,
        t0 + timedelta(seconds=60),
    )
    assert await worker_b.run_once(t0 + timedelta(seconds=59)) == 0  # lease still held
    assert await worker_b.run_once(t0 + timedelta(seconds=60)) == 1  # expired: B takes over
    row = await load(world, acme, message.id)
    assert (row.status, row.attempts, row.fence, row.provider_message_id) == ("sent", 2, 2, f"prov-{message.id}")

    # A wakes up and reports a different outcome: ignored, whatever it says.
    port.script = [TransientSmsError("late failure")]
    await worker_a._deliver(stale, t0 + timedelta(seconds=70))
    port.script = [SendResult(provider="scripted", provider_message_id="prov-stale", status="sent")]
    await worker_a._deliver(stale, t0 + timedelta(seconds=71))
    after = await load(world, acme, message.id)
    assert (after.status, after.provider_message_id, after.last_error, after.fence) == (
        "sent",
        f"prov-{message.id}",
        None,
        2,
    )


async def test_a_message_whose_relay_keeps_dying_goes_dead(world, ctx, acme, port):
    message = await queue(world, acme)
    relay = OutboxRelay(ctx, port, lease_seconds=10, max_attempts=2, concurrency=1)
    t = at(ctx)
    for _ in range(2):
        assert len(await relay._claim(t)) == 1  # claimed, then "crashes" without a result
        t += timedelta(seconds=11)
    assert await relay._claim(t) == []
    row = await load(world, acme, message.id)
    assert row.status == "dead" and "did not finish" in row.last_error


# --------------------------------------------------------------------------- the logfile adapter


async def test_the_logfile_adapter_writes_full_numbers_once_per_key(world, ctx, acme, tmp_path):
    message = await queue(world, acme, to_number="13812341234", body="未接来电")
    relay = OutboxRelay(ctx, concurrency=1)  # the adapter the context was built with
    assert isinstance(relay.port, LogFileSmsAdapter)
    assert await relay.run_once(at(ctx)) == 1
    row = await load(world, acme, message.id)
    assert (row.status, row.provider, row.delivered_at) == ("delivered", "logfile", at(ctx))
    path = ctx.settings.data_dir / "sms" / "outbox.jsonl"
    [line] = read_outbox_file(path)
    assert (line["message_id"], line["to"], line["body"]) == (str(message.id), "+8613812341234", "未接来电")

    outgoing = OutgoingSms(message.id, acme.id, "+8613812341234", "未接来电", "kefu")
    again = await relay.port.send(outgoing)
    restarted = await LogFileSmsAdapter(path).send(outgoing)  # a new process reads the file
    assert again.provider_message_id == restarted.provider_message_id == row.provider_message_id
    assert len(read_outbox_file(path)) == 1
    assert (path.stat().st_mode & 0o777) == 0o600


async def test_the_logfile_adapter_survives_a_torn_last_line(tmp_path):
    import uuid

    path = tmp_path / "outbox.jsonl"
    first = OutgoingSms(uuid.uuid4(), uuid.uuid4(), "+8613812341234", "a", "kefu")
    await LogFileSmsAdapter(path).send(first)
    with path.open("ab") as fh:
        fh.write(b'{"idempotency_key": "torn-by-a-cra')  # the process died mid-write
    adapter = LogFileSmsAdapter(path)
    second = OutgoingSms(uuid.uuid4(), first.tenant_id, "+8613812341234", "b", "kefu")
    await adapter.send(second)
    await adapter.send(first)
    assert [e["body"] for e in read_outbox_file(path)] == ["a", "b"]


# --------------------------------------------------------------------------- replies


async def _sent(world, ctx, t, relay, **kw) -> SmsMessage:
    message = await queue(world, t, **kw)
    await relay.run_once(at(ctx))
    return await load(world, t, message.id)


async def _receive(world, t, number: str, body: str, provider_id: str | None = None, **kw) -> SmsInbound:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        inbound = await do_receive_inbound(s, t.tenant, number, body, provider_id, **kw)
        await s.commit()
    return inbound


@pytest.fixture
def handlers():
    """Register reply handlers for a test; restores whatever was registered before (other domains')."""
    previous: dict[str, object] = {}

    def register(purpose, handler):
        previous.setdefault(purpose, reply_handler_for(purpose))
        register_reply_handler(purpose, handler, replace=True)

    yield register
    for purpose, handler in previous.items():
        unregister_reply_handler(purpose)
        if handler is not None:
            register_reply_handler(purpose, handler)


async def test_a_reply_goes_to_the_latest_message_expecting_one_and_its_handler(world, ctx, acme, relay, handlers):
    calls: list[tuple[InboundSms, SmsMessage]] = []

    async def on_follow_up(session, tenant, inbound, original):
        calls.append((inbound, original))
        # The handler writes in the same transaction, e.g. a thank-you message.
        await queue_sms(session, tenant=tenant, to_number=inbound.from_number, body="谢谢", purpose="thanks")

    handlers("test_follow_up", on_follow_up)
    older = await _sent(world, ctx, acme, relay, purpose="survey", expects_reply=True)
    ctx.clock.advance(60)
    newer = await _sent(
        world,
        ctx,
        acme,
        relay,
        purpose="test_follow_up",
        expects_reply=True,
        reference_type="work_order",
        reference_id="wo-7",
    )
    ctx.clock.advance(60)
    await _sent(world, ctx, acme, relay, purpose="incident_fixed")  # newest, but expects no reply
    await _sent(world, ctx, acme, relay, purpose="test_follow_up", expects_reply=True, to_number="13900001111")
    ctx.clock.advance(60)

    inbound = await _receive(world, acme, "+86 138 1234 1234", "1 非常满意", "in-1")
    assert (inbound.status, inbound.matched_message_id) == ("handled", newer.id)
    [(seen, original)] = calls
    assert (seen.from_number, seen.body, seen.id) == ("+8613812341234", "1 非常满意", inbound.id)
    assert (original.id, original.reference_id) == (newer.id, "wo-7")
    assert older.id != newer.id
    assert [m.purpose for m in await all_messages(world, acme)].count("thanks") == 1

    replay = await _receive(world, acme, "13812341234", "1 非常满意", "in-1")
    assert replay.id == inbound.id and len(calls) == 1


async def test_replies_without_a_match_or_handler_are_kept(world, ctx, acme, relay):
    unknown = await _receive(world, acme, "13700000000", "谁啊", "in-2")
    assert (unknown.status, unknown.matched_message_id) == ("unmatched", None)
    survey = await _sent(world, ctx, acme, relay, purpose="survey_unhandled", expects_reply=True)
    ctx.clock.advance(10)
    no_handler = await _receive(world, acme, "13812341234", "2", "in-3")
    assert (no_handler.status, no_handler.matched_message_id) == ("no_handler", survey.id)
    late = await _receive(world, acme, "13812341234", "2", "in-4", received_at=at(ctx, 8 * 86400))
    assert late.status == "unmatched"  # outside the 7-day reply window
    async with world.session() as s:
        await bind_tenant(s, acme.id)
        stored = (await s.execute(sa.select(SmsInbound).order_by(SmsInbound.id))).scalars().all()
        await s.commit()
    assert [r.provider_message_id for r in stored] == ["in-2", "in-3", "in-4"]
    crypto = ctx.pii(acme.tenant)
    assert crypto.open(stored[0].body_enc, row_id=stored[0].id, field="body") == "谁啊"
    assert stored[0].from_number_masked == "137****0000"


async def test_a_failing_handler_keeps_the_reply_and_rolls_back_its_writes(world, ctx, acme, relay, handlers):
    async def broken(session, tenant, inbound, original):
        await queue_sms(session, tenant=tenant, to_number="13812341234", body="never", purpose="thanks")
        raise InvalidInput("answer must be 1-5")

    handlers("test_survey", broken)
    await _sent(world, ctx, acme, relay, purpose="test_survey", expects_reply=True)
    ctx.clock.advance(5)
    inbound = await _receive(world, acme, "13812341234", "maybe", "in-9")
    assert inbound.status == "handler_failed" and "answer must be 1-5" in inbound.handler_error
    assert "thanks" not in [m.purpose for m in await all_messages(world, acme)]


def test_a_purpose_has_one_reply_handler(handlers):
    async def one(*_):
        pass

    async def two(*_):
        pass

    handlers("test_survey", one)
    register_reply_handler("test_survey", one)  # the same handler again is fine
    with pytest.raises(ValueError, match="already registered"):
        register_reply_handler("test_survey", two)
    with pytest.raises(ValueError, match="purpose"):
        register_reply_handler("Bad Purpose", one)


# --------------------------------------------------------------------------- delivery reports


async def _report(world, t, provider_id: str, status: str, error: str | None = None) -> SmsMessage:
    async with world.session() as s:
        await bind_tenant(s, t.id)
        message = await do_record_delivery(s, t.tenant, provider_id, status, error)
        await s.commit()
    return message


async def test_delivery_reports_update_the_status(world, ctx, acme, relay):
    a = await _sent(world, ctx, acme, relay, to_number="13812340001")
    b = await _sent(world, ctx, acme, relay, to_number="13812340002")
    assert (await _report(world, acme, a.provider_message_id, "accepted")).status == "sent"
    delivered = await _report(world, acme, a.provider_message_id, "DELIVERED")
    assert (delivered.status, delivered.delivered_at) == ("delivered", ctx.now())
    assert (await _report(world, acme, a.provider_message_id, "failed")).status == "delivered"  # never backwards
    dead = await _report(world, acme, b.provider_message_id, "undelivered", "handset off")
    assert (dead.status, dead.last_error) == ("dead", "provider reported undelivered: handset off")
    with pytest.raises(NotFound):
        await _report(world, acme, "prov-unknown", "delivered")
    with pytest.raises(InvalidInput, match="Unknown delivery status"):
        await _report(world, acme, a.provider_message_id, "exploded")
    history = [h["status"] for h in (await load(world, acme, a.id)).history]
    assert history == ["queued", "sending", "sent", "report:accepted", "delivered", "report:failed"]


async def test_retrying_an_undelivered_message_uses_a_new_idempotency_key(world, ctx, acme, relay, port):
    message = await _sent(world, ctx, acme, relay)
    await _report(world, acme, message.provider_message_id, "undelivered")
    async with world.session() as s:
        await bind_tenant(s, acme.id)
        await do_retry_sms(s, world.admin_actor(acme.id), message.id)
        await s.commit()
    await relay.run_once(at(ctx, 1))
    assert [m.idempotency_key for m in port.sent] == [str(message.id), f"{message.id}.1"]
    assert (await load(world, acme, message.id)).status == "sent"
