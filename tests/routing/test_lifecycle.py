"""Task and agent lifecycle: offers, fencing, misses, wrap-up, abandon, transfer, order."""

from __future__ import annotations

import pytest

from kefu.routing import (
    DuplicateTask,
    InUse,
    InvalidArgument,
    OfferExpired,
    OfferNotFound,
    RouterSettings,
    StatusChangeNotAllowed,
    TaskNotAssignedToAgent,
    TaskStateConflict,
    UnknownAgent,
    UnknownQueue,
    UnknownTask,
)
from kefu.routing.events import (
    AgentAutoPaused,
    OfferRejected,
    OfferTimedOut,
    OfferWithdrawn,
    TaskAssigned,
    TaskCompleted,
)
from routing.routing_support import Harness


def basic(**settings: object) -> Harness:
    h = Harness(RouterSettings(**settings) if settings else None)  # type: ignore[arg-type]
    h.queue("q", offer_timeout_s=10, wrap_up_s=0)
    return h


def test_happy_path_events_and_states() -> None:
    h = basic()
    h.agent("a")
    mark = h.mark()
    assert h.submit("t", "q") == "offered"
    assert h.agent_state("a") == "reserved"
    h.answer("t")
    assert h.state("t") == "assigned" and h.agent_state("a") == "busy"
    h.advance(100)
    h.router.complete("t")
    assert h.state("t") == "completed" and h.agent_state("a") == "idle"
    assert h.types(mark) == [
        "task.queued",
        "task.offered",
        "agent.state_changed",
        "task.assigned",
        "agent.state_changed",
        "task.completed",
        "agent.state_changed",
    ]
    done = h.of(TaskCompleted)[0]
    assert done.handle_s == 100 and done.wrap_up_until is None


def test_priority_then_age_order() -> None:
    h = basic()
    h.submit("old_low", "q", priority=0)
    h.advance(1)
    h.submit("new_high", "q", priority=5)
    h.advance(1)
    h.submit("newer_low", "q", priority=0)
    h.submit("adjusted", "q", priority=0, time_adjustment=60)  # counts as a minute older
    order = [t["id"] for t in h.router.snapshot()["tasks"]]
    assert set(order) == {"old_low", "new_high", "newer_low", "adjusted"}
    assert h.router.snapshot()["queues"][0]["tasks"] == ["new_high", "adjusted", "old_low", "newer_low"]
    served = []
    h.agent("a")
    for _ in range(4):
        offered = [t for t in ("new_high", "adjusted", "old_low", "newer_low") if h.state(t) == "offered"]
        assert len(offered) == 1  # one agent: one offer at a time
        served.append(offered[0])
        h.answer(offered[0])
        h.router.complete(offered[0])
    assert served == ["new_high", "adjusted", "old_low", "newer_low"]
    assert [e.task_id for e in h.of(TaskAssigned)] == served


def test_callback_keeps_its_place_in_line() -> None:
    h = basic()
    h.submit("caller", "q")
    enqueued = h.router.task_info("caller")["enqueued_at"]
    h.advance(30)
    h.submit("later1", "q")
    h.advance(30)
    # the caller accepts a callback: the call ends, a callback task keeps the entry time
    h.router.cancel("caller", reason="callback")
    h.submit("callback", "q", kind="callback", enqueued_at=enqueued)
    h.advance(5)
    h.submit("later2", "q")
    assert h.router.snapshot()["queues"][0]["tasks"] == ["callback", "later1", "later2"]
    h.agent("a")
    assert h.offered_to("callback") == ("a",)
    with pytest.raises(InvalidArgument):
        h.submit("future", "q", enqueued_at=h.clock.now() + 10)


def test_offer_timeout_requeues_at_old_place_and_marks_missed() -> None:
    h = basic(missed_offer_delay_s=5)
    h.submit("first", "q")
    h.advance(1)
    h.submit("second", "q")
    h.agent("a")
    token = h.last_offer("first").token
    h.advance(10)  # offer timeout
    timed_out = h.of(OfferTimedOut)[-1]
    assert timed_out.task_id == "first" and timed_out.agent_ids == ("a",) and timed_out.misses == (1,)
    assert h.agent_state("a") == "missed"
    assert h.state("first") == "waiting"
    assert h.router.snapshot()["queues"][0]["tasks"] == ["first", "second"]  # old place kept
    with pytest.raises(OfferExpired):  # the late accept changes nothing
        h.router.accept("first", "a", token)
    h.advance(5)  # missed delay over: a gets the head of the line again
    assert h.offered_to("first") == ("a",)
    assert h.last_offer("first").token == token + 1


def test_reject_counts_as_miss_and_goes_to_next_agent() -> None:
    h = basic()
    h.agent("a")
    h.advance(1)
    h.agent("b")
    h.submit("t", "q")
    assert h.offered_to("t") == ("a",)
    h.router.reject("t", "a", h.last_offer("t").token)
    assert h.of(OfferRejected)[-1].misses == 1
    assert h.offered_to("t") == ("b",)
    h.answer("t")
    assert h.router.task_info("t")["agent_id"] == "b"


def test_fencing_tokens() -> None:
    h = basic()
    h.agent("a")
    h.agent("b")
    h.submit("t", "q")
    offer = h.last_offer("t")
    other = "b" if offer.agent_ids == ("a",) else "a"
    with pytest.raises(OfferNotFound):
        h.router.accept("t", other, offer.token)  # never offered to this agent
    with pytest.raises(OfferNotFound):
        h.router.accept("t", offer.agent_ids[0], offer.token + 1)
    with pytest.raises(UnknownTask):
        h.router.accept("nope", "a", 1)
    with pytest.raises(UnknownAgent):
        h.router.accept("t", "ghost", offer.token)
    with pytest.raises(InvalidArgument):
        h.router.accept("t", "a", "1")  # type: ignore[arg-type]
    h.router.accept_offer(offer.offer_id, offer.agent_ids[0])
    h.router.accept("t", offer.agent_ids[0], offer.token)  # same accept again: no-op
    assert h.types()[-1] == "agent.state_changed"
    with pytest.raises(OfferExpired):
        h.router.accept("t", other, offer.token)
    with pytest.raises(TaskStateConflict):
        h.router.reject("t", offer.agent_ids[0], offer.token)
    h.router.complete("t")
    with pytest.raises(OfferExpired):
        h.router.accept("t", offer.agent_ids[0], offer.token)


def test_auto_pause_after_k_consecutive_misses() -> None:
    h = basic(max_consecutive_misses=2)
    h.agent("a")
    h.submit("t1", "q")
    h.advance(10)  # miss 1
    h.advance(0)
    assert h.router.agent_stats("a").misses == 1 and h.router.agent_stats("a").status == "available"
    h.advance(10)  # miss 2 → auto-pause
    paused = h.of(AgentAutoPaused)
    assert paused and paused[0].misses == 2
    stats = h.router.agent_stats("a")
    assert stats.status == "break" and stats.break_reason == "missed_offers"
    h.advance(60)
    assert h.state("t1") == "waiting"  # never offered to a paused agent
    h.router.set_status("a", "available")
    assert h.router.agent_stats("a").misses == 0
    assert h.offered_to("t1") == ("a",)
    h.answer("t1")


def test_accept_resets_consecutive_misses() -> None:
    h = basic(max_consecutive_misses=2)
    h.agent("a")
    h.submit("t1", "q")
    h.advance(10)
    h.advance(0)
    h.answer("t1")
    assert h.router.agent_stats("a").misses == 0


def test_wrap_up_timer_and_early_end() -> None:
    h = Harness()
    h.queue("q", wrap_up_s=30)
    h.agent("a")
    h.submit("t1", "q")
    h.answer("t1")
    h.submit("t2", "q")
    h.router.complete("t1")
    assert h.agent_state("a") == "wrap_up" and h.state("t2") == "waiting"
    h.advance(29)
    assert h.state("t2") == "waiting"
    mark = h.mark()
    h.advance(1)
    assert h.types(mark)[:3] == ["agent.wrap_up_ended", "agent.state_changed", "task.offered"]
    h.answer("t2")
    h.router.complete("t2")
    assert h.router.end_wrap_up("a") is True
    assert h.agent_state("a") == "idle"
    assert h.router.end_wrap_up("a") is False
    h.submit("t3", "q")
    h.answer("t3")
    h.router.complete("t3", wrap_up=False)
    assert h.agent_state("a") == "idle"


def test_abandon_while_waiting_and_while_offered() -> None:
    h = Harness(RouterSettings(short_abandon_s=5))
    h.queue("q")
    h.submit("t1", "q")
    h.advance(3)
    h.router.abandon("t1")
    assert h.state("t1") == "abandoned"
    h.agent("a")
    h.submit("t2", "q")
    assert h.offered_to("t2") == ("a",)
    h.advance(10)
    h.router.abandon("t2")
    withdrawn = h.of(OfferWithdrawn)[-1]
    assert withdrawn.reason == "abandoned" and withdrawn.agent_ids == ("a",)
    assert h.agent_state("a") == "idle" and h.router.agent_stats("a").misses == 0
    stats = h.router.queue_stats("q")
    assert (stats.abandoned, stats.abandoned_short) == (2, 1)
    with pytest.raises(TaskStateConflict):
        h.router.abandon("t2")
    h.submit("t3", "q")
    h.answer("t3")
    with pytest.raises(TaskStateConflict):
        h.router.abandon("t3")


def test_cancel_in_every_state() -> None:
    h = basic()
    h.submit("waiting", "q")
    h.router.cancel("waiting")
    h.agent("a")
    h.submit("offered", "q")
    h.router.cancel("offered")
    assert h.agent_state("a") == "idle"
    h.submit("assigned", "q")
    h.answer("assigned")
    h.router.cancel("assigned", reason="caller_left")
    assert h.agent_state("a") == "idle"
    assert [h.state(t) for t in ("waiting", "offered", "assigned")] == ["cancelled"] * 3
    with pytest.raises(TaskStateConflict):
        h.router.cancel("assigned")


def test_complete_preconditions() -> None:
    h = basic()
    h.agent("a")
    h.agent("b")
    h.submit("t", "q")
    with pytest.raises(TaskStateConflict):
        h.router.complete("t")
    agent = h.answer("t")
    other = "b" if agent == "a" else "a"
    with pytest.raises(TaskNotAssignedToAgent):
        h.router.complete("t", other)
    with pytest.raises(UnknownAgent):
        h.router.complete("t", "ghost")
    with pytest.raises(UnknownTask):
        h.router.complete("ghost")
    h.router.complete("t", agent)


def test_bad_submissions_change_nothing() -> None:
    h = basic()
    h.submit("t", "q")
    mark = h.mark()
    for call, error in [
        (lambda: h.submit("t", "q"), DuplicateTask),
        (lambda: h.submit("x", "nope"), UnknownQueue),
        (lambda: h.submit("x"), InvalidArgument),
        (lambda: h.submit("x", "q", priority="high"), InvalidArgument),
        (lambda: h.submit("x", "q", channel=""), InvalidArgument),
        (lambda: h.submit("", "q"), InvalidArgument),
        (lambda: h.submit("x", "q", time_adjustment=float("nan")), InvalidArgument),
    ]:
        with pytest.raises(error):
            call()
    assert h.mark() == mark
    assert not h.router.has_task("x")


def test_transfer_assigned_task_to_queue_and_to_agent() -> None:
    h = Harness()
    h.queue("sales", eligibility="sales>=1", wrap_up_s=10)
    h.queue("billing", eligibility="billing>=1")
    h.agent("s", {"sales": 3})
    h.agent("b", {"billing": 2})
    h.submit("t", "sales")
    assert h.answer("t") == "s"
    h.advance(60)
    h.router.transfer("t", queue_id="billing")
    assert h.agent_state("s") == "wrap_up"
    assert h.offered_to("t") == ("b",)
    h.answer("t")
    h.router.complete("t")
    # transfer to a named agent: waits for that agent only
    h.submit("u", "sales")
    h.advance(11)  # s's wrap-up over
    assert h.answer("u") == "s"
    h.router.transfer("u", agent_id="b")
    assert h.offered_to("u") == ("b",)
    with pytest.raises(InvalidArgument):
        h.router.transfer("u", agent_id="b", queue_id="sales")
    h.answer("u")
    with pytest.raises(InvalidArgument):
        h.router.transfer("u", agent_id="b")  # already with b


def test_transfer_to_busy_agent_waits_for_them() -> None:
    h = basic()
    h.agent("a")
    h.agent("b")
    h.submit("t1", "q")
    first = h.answer("t1")
    other = "b" if first == "a" else "a"
    h.submit("t2", "q")
    h.answer("t2")  # both busy
    h.router.transfer("t2", agent_id=first)  # other frees up, but t2 waits for `first`
    assert h.state("t2") == "waiting"
    assert h.agent_state(other) == "idle"
    h.router.complete("t1")
    assert h.offered_to("t2") == (first,)
    with pytest.raises(InUse):
        h.router.remove_agent(first)


def test_multi_channel_capacity() -> None:
    h = Harness()
    h.queue("chat")
    h.agent("a", {}, {"chat": 2, "voice": 1})
    for i in range(3):
        h.submit(f"c{i}", "chat", channel="chat")
    h.answer("c0")
    h.answer("c1")  # second chat offered once the first was accepted
    assert h.state("c2") == "waiting"  # capacity 2 reached
    h.submit("v", "chat", channel="voice")
    assert h.offered_to("v") == ("a",)  # voice capacity is separate
    h.answer("v")
    h.router.complete("c0")
    assert h.offered_to("c2") == ("a",)


def test_status_changes() -> None:
    h = basic()
    h.agent("a")
    h.submit("t", "q")
    h.router.set_status("a", "break", "lunch")  # withdraws the ringing offer, no blame
    assert h.of(OfferWithdrawn)[-1].reason == "agent_unavailable"
    assert h.router.agent_stats("a").misses == 0 and h.state("t") == "waiting"
    with pytest.raises(StatusChangeNotAllowed):
        h.router.set_status("a", "asleep")
    h.router.set_status("a", "available")
    h.answer("t")
    with pytest.raises(StatusChangeNotAllowed):
        h.router.set_status("a", "offline")  # busy agents can't log out …
    h.router.set_status("a", "offline", actor="supervisor")  # … unless forced
    h.router.complete("t")
    assert h.router.agent_stats("a").status == "offline"
    mark = h.mark()
    h.router.set_status("a", "offline")  # idempotent
    assert h.mark() == mark


def test_router_on_the_real_clock() -> None:
    """The same engine on wall-clock time: an offer times out on the asyncio loop."""
    import asyncio

    from kefu.core.time import RealClock
    from kefu.routing import AgentConfig, QueueConfig, Router

    async def scenario() -> list[str]:
        events: list[object] = []
        router = Router(RealClock(), events.append, settings=RouterSettings(missed_offer_delay_s=0.5))
        router.upsert_queue(QueueConfig("q", offer_timeout_s=0.05, wrap_up_s=0.05))
        router.upsert_agent(AgentConfig("a"))
        router.set_status("a", "available")
        router.submit_task("t1", "q")
        await asyncio.sleep(0.15)
        assert router.task_state("t1") == "waiting" and router.agent_stats("a").state == "missed"
        router.upsert_queue(QueueConfig("q", offer_timeout_s=5, wrap_up_s=0.05))  # live change
        await asyncio.sleep(0.5)  # the missed delay ends: offered again, now for 5 s
        offer = router.task_info("t1")
        router.accept("t1", "a", offer["token"])
        router.complete("t1")
        await asyncio.sleep(0.15)
        assert router.agent_stats("a").state == "idle"
        return [e.type for e in events]  # type: ignore[attr-defined]

    kinds = asyncio.run(scenario())
    assert "offer.timed_out" in kinds and "agent.wrap_up_ended" in kinds
