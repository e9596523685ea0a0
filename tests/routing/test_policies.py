"""Routing policies (steps, expiry, relaxation, overflow) and queue exception rules."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from kefu.core.time import from_datetime
from kefu.routing import (
    ExceptionRule,
    InUse,
    InvalidPolicy,
    OpeningHours,
    PolicyStep,
    QueueClosed,
    QueueFull,
    RouterSettings,
    RoutingPolicy,
    UnknownPolicy,
)
from kefu.routing.events import (
    ExceptionTriggered,
    TaskCancelled,
    TaskOverflowed,
    TaskRequirementsRelaxed,
)
from routing.routing_support import Harness


def relaxing_policy(h: Harness) -> None:
    h.queue("billing", eligibility="billing>=1")
    h.queue("general")
    h.router.upsert_policy(
        RoutingPolicy(
            "vip",
            (
                PolicyStep("billing", priority=5, requirements="billing>=4", expires_after_s=30),
                PolicyStep("billing", priority=5, requirements="billing>=2", expires_after_s=30),
                PolicyStep("general", priority=8),
            ),
        )
    )


def test_step_expiry_relaxes_requirements_then_overflows() -> None:
    h = Harness()
    relaxing_policy(h)
    h.agent("junior", {"billing": 2})
    h.agent("any", {})
    h.submit("t", policy_id="vip")
    assert h.state("t") == "waiting"  # nobody has billing>=4
    assert h.router.task_info("t")["priority"] == 5
    h.advance(29.9)
    assert h.state("t") == "waiting"
    h.advance(0.1)  # step 1 applies: billing>=2
    relaxed = h.of(TaskRequirementsRelaxed)[-1]
    assert (relaxed.step, relaxed.requirements) == (1, "billing>=2")
    assert h.offered_to("t") == ("junior",)
    h.router.reject("t", "junior", h.last_offer("t").token)
    h.router.set_status("junior", "break", "coaching")
    h.advance(30)  # step 2: overflow to the general queue, priority 8
    overflowed = h.of(TaskOverflowed)[-1]
    assert (overflowed.from_queue_id, overflowed.queue_id, overflowed.reason) == (
        "billing",
        "general",
        "step_expired",
    )
    info = h.router.task_info("t")
    assert info["queue_id"] == "general" and info["priority"] == 8
    assert h.offered_to("t") == ("any",)


def test_step_expiry_while_offered_applies_after_requeue() -> None:
    h = Harness()
    h.queue("q", eligibility="x>=1", offer_timeout_s=20)
    h.queue("other")
    h.router.upsert_policy(RoutingPolicy("p", (PolicyStep("q", expires_after_s=10), PolicyStep("other"))))
    h.agent("a", {"x": 1})
    h.submit("t", policy_id="p")
    assert h.offered_to("t") == ("a",)
    h.advance(10)  # expiry while ringing: deferred
    assert h.router.task_info("t")["queue_id"] == "q"
    h.advance(10)  # offer times out → back in line → overdue expiry fires
    h.advance(0)
    assert h.router.task_info("t")["queue_id"] == "other"


def test_fallback_policy_and_policy_errors() -> None:
    h = Harness()
    h.queue("a")
    h.queue("b")
    h.router.upsert_policy(RoutingPolicy("last", (PolicyStep("b"),)))
    h.router.upsert_policy(RoutingPolicy("first", (PolicyStep("a", expires_after_s=5),), "last"))
    h.submit("t", policy_id="first")
    h.advance(5)
    assert h.router.task_info("t")["queue_id"] == "b"
    assert h.router.task_info("t")["policy_id"] == "last"
    with pytest.raises(InvalidPolicy):  # would loop last → first → last
        h.router.upsert_policy(RoutingPolicy("last", (PolicyStep("b", expires_after_s=5),), "first"))
    with pytest.raises(InvalidPolicy):
        h.router.upsert_policy(RoutingPolicy("x", (PolicyStep("missing"),)))
    with pytest.raises(UnknownPolicy):
        h.submit("u", policy_id="nope")
    with pytest.raises(InUse):
        h.router.remove_policy("last")  # t follows it
    with pytest.raises(InUse):
        h.router.remove_queue("a")  # used by policy "first"


def test_policy_change_moves_waiting_tasks() -> None:
    h = Harness()
    h.queue("a")
    h.queue("b")
    h.router.upsert_policy(RoutingPolicy("p", (PolicyStep("a"),)))
    h.submit("t", policy_id="p")
    h.router.upsert_policy(RoutingPolicy("p", (PolicyStep("b", priority=3),)))
    info = h.router.task_info("t")
    assert (info["queue_id"], info["priority"]) == ("b", 3)
    assert h.of(TaskOverflowed)[-1].reason == "policy_changed"


def test_queue_length_exception_overflows_on_entry() -> None:
    h = Harness()
    h.queue("overflow")
    rule = ExceptionRule("long", "queue_length", "overflow", threshold=2, target_queue_id="overflow")
    h.queue("main", exception_rules=(rule,))
    for i in range(3):
        h.submit(f"t{i}", "main")
    assert [h.router.task_info(f"t{i}")["queue_id"] for i in range(3)] == ["main", "main", "main"]
    h.submit("t3", "main")  # 3 already waiting > 2
    assert h.router.task_info("t3")["queue_id"] == "overflow"
    fired = h.of(ExceptionTriggered)[-1]
    assert (fired.rule_id, fired.action, fired.target_queue_id) == ("long", "overflow", "overflow")
    assert h.router.queue_stats("main").overflowed_out == 1


def test_wait_time_exception_actions() -> None:
    h = Harness()
    rules = (
        ExceptionRule("cb", "wait_time", "callback_offer", threshold=60, message="press 1"),
        ExceptionRule("vm", "wait_time", "voicemail", threshold=300),
    )
    h.queue("q", exception_rules=rules)
    h.submit("t", "q")
    h.advance(60)
    fired = h.of(ExceptionTriggered)
    assert [(e.rule_id, e.action, e.message) for e in fired] == [("cb", "callback_offer", "press 1")]
    assert h.state("t") == "waiting"  # a callback offer is for the call controller
    h.advance(240)
    assert h.state("t") == "cancelled"
    assert h.of(TaskCancelled)[-1].reason == "voicemail"


def test_wait_rule_is_rearmed_after_an_offer_returns() -> None:
    h = Harness()
    h.queue("spill")
    rule = ExceptionRule("old", "wait_time", "overflow", threshold=15, target_queue_id="spill")
    h.queue("q", exception_rules=(rule,), offer_timeout_s=20, eligibility="x>=1")
    h.agent("a", {"x": 1})
    h.submit("t", "q")
    h.advance(20)  # rule time passes while ringing; the offer then times out
    h.advance(0)
    assert h.router.task_info("t")["queue_id"] == "spill"


def test_no_agents_and_cancel_actions() -> None:
    h = Harness()
    h.queue("q", eligibility="rare>=1", exception_rules=(ExceptionRule("empty", "no_agents", "cancel"),))
    assert h.submit("t", "q") == "cancelled"
    h.agent("a", {"rare": 1}, status="break")
    assert h.submit("u", "q") == "cancelled"  # logged in but not available … on break counts as absent
    h.router.set_status("a", "available")
    assert h.submit("v", "q") == "offered"


def test_max_length() -> None:
    h = Harness()
    h.queue("q", max_length=2)
    h.submit("t1", "q")
    h.submit("t2", "q")
    mark = h.mark()
    with pytest.raises(QueueFull):
        h.submit("t3", "q")
    assert h.mark() == mark and not h.router.has_task("t3")
    h.router.abandon("t1")
    h.submit("t3", "q")


def test_opening_hours_and_holidays() -> None:
    monday_morning = from_datetime(datetime(2024, 5, 6, 8, 0, tzinfo=UTC))  # 16:00 in Shanghai
    holidays = {date(2024, 5, 7)}

    def is_holiday(queue_id: str, day: date) -> bool:
        return day in holidays

    h = Harness(RouterSettings(timezone="Asia/Shanghai"), holidays=is_holiday, start=monday_morning)
    hours = OpeningHours.parse("mon-fri 09:00-18:00")
    h.queue("q", hours=hours)
    h.submit("t1", "q")  # open (16:00 local)
    h.advance(2 * 3600)  # 18:00 local: closed
    assert not h.router.is_open("q")
    with pytest.raises(QueueClosed):
        h.submit("t2", "q")
    h.advance(15 * 3600)  # Tuesday 09:00 local, but a holiday
    assert not h.router.is_open("q")
    h.advance(24 * 3600)  # Wednesday 09:00
    h.submit("t3", "q")
    # a closed rule turns the refusal into an action
    h.queue("night", hours=hours, exception_rules=(ExceptionRule("closed", "closed", "voicemail"),))
    h.advance(10 * 3600)  # 19:00 local
    assert h.submit("t4", "night") == "cancelled"
    assert h.of(TaskCancelled)[-1].reason == "voicemail"


def test_unused_step_buckets_are_released() -> None:
    h = Harness()
    h.queue("q", eligibility="x>=1")
    h.agent("a", {"x": 5})
    h.submit("direct", "q")  # the queue's own bucket
    h.answer("direct")
    h.router.complete("direct")
    h.router.upsert_policy(RoutingPolicy("p", (PolicyStep("q", requirements="x>=4"),)))
    h.submit("t", policy_id="p")
    h.answer("t")
    h.router.complete("t")
    agent = h.router._agents["a"]
    assert len(agent.buckets) == 2  # the queue's own bucket and the step's
    h.router.upsert_policy(RoutingPolicy("p", (PolicyStep("q"),)))
    assert len(agent.buckets) == 1
    h.router.upsert_policy(RoutingPolicy("p2", (PolicyStep("q", requirements="x>=2"),)))
    h.submit("u", policy_id="p2")
    h.answer("u")
    h.router.complete("u")
    assert len(agent.buckets) == 2
    h.router.remove_policy("p2")
    assert len(agent.buckets) == 1
