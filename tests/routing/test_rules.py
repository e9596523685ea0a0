"""Pure rules: requirement expressions, validation, status table, EWT, opening hours."""

from __future__ import annotations

from datetime import datetime

import pytest

from kefu.routing import (
    InvalidConfig,
    InvalidExpression,
    InvalidLevel,
    InvalidPolicy,
    InvalidSkill,
    StatusChangeNotAllowed,
)
from kefu.routing.errors import RoutingError
from kefu.routing.rules import (
    AgentConfig,
    ExceptionRule,
    OpeningHours,
    PolicyStep,
    QueueConfig,
    RoutingPolicy,
    check_status_change,
    combine_requirements,
    ema_update,
    estimate_wait,
    parse_requirement,
    task_order_key,
    validate_agent_config,
    validate_policy,
    validate_queue_config,
)

# --- requirement expressions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "skills", "expected"),
    [
        ("", {}, True),
        ("*", {}, True),
        ("billing", {"billing": 1}, True),
        ("billing", {}, False),
        ("billing>=2", {"billing": 1}, False),
        ("billing>=2 AND lang_zh>=3", {"billing": 2, "lang_zh": 3}, True),
        ("billing>=2 and lang_zh>=3", {"billing": 2, "lang_zh": 2}, False),
        ("billing>=4 OR vip", {"vip": 1}, True),
        ("NOT trainee", {"trainee": 2}, False),
        ("NOT trainee", {}, True),
        ("(a>=2 OR b>=2) AND c<3", {"a": 2, "c": 2}, True),
        ("(a>=2 OR b>=2) AND c<3", {"a": 2, "c": 3}, False),
        ("lang:zh>=3", {"lang:zh": 4}, True),
        ("x==3", {"x": 3}, True),
        ("x=3", {"x": 4}, False),
        ("x!=3", {"x": 4}, True),
        ("x>0", {}, False),
        ("x<=0", {}, True),
    ],
)
def test_requirement_evaluation(expr: str, skills: dict[str, int], expected: bool) -> None:
    assert parse_requirement(expr).matches(skills) is expected


def test_canonical_form_is_order_independent() -> None:
    a = parse_requirement("lang_zh>=3 AND billing>=2")
    b = parse_requirement("billing>=2   and lang_zh >= 3")
    assert a.canonical == b.canonical == "billing>=2 AND lang_zh>=3"
    assert a == b
    assert parse_requirement("vip").canonical == "vip>=1"
    assert parse_requirement("*").canonical == ""
    assert parse_requirement("a OR (b AND c)").skills == {"a", "b", "c"}
    assert not parse_requirement("a").matches_without_skills
    assert parse_requirement("NOT a").matches_without_skills


def test_combined_requirements() -> None:
    assert combine_requirements("b>=1", "a>=2").canonical == "a>=2 AND b>=1"
    assert combine_requirements("", "a>=2").canonical == "a>=2"
    assert combine_requirements("a>=1 OR b>=1", "").canonical == "a>=1 OR b>=1"


@pytest.mark.parametrize(
    ("expr", "error"),
    [
        ("billing >=", InvalidExpression),
        ("billing >= 2 AND", InvalidExpression),
        ("(billing >= 2", InvalidExpression),
        ("billing >= 2)", InvalidExpression),
        ("billing # 2", InvalidExpression),
        ("billing >= 9", InvalidLevel),
        ("billing >= -1", InvalidLevel),
        ("2billing", InvalidExpression),
        ("AND", InvalidExpression),
    ],
)
def test_bad_expressions(expr: str, error: type[RoutingError]) -> None:
    with pytest.raises(error) as info:
        parse_requirement(expr)
    assert info.value.code == error.code


def test_skill_catalogue_is_enforced() -> None:
    parse_requirement("billing>=1", catalogue={"billing"})
    with pytest.raises(InvalidSkill):
        parse_requirement("biling>=1", catalogue={"billing"})


def test_agent_validation() -> None:
    validate_agent_config(AgentConfig("a", {"billing": 5}, {"voice": 1, "chat": 3}))
    with pytest.raises(InvalidLevel):
        validate_agent_config(AgentConfig("a", {"billing": 6}))
    with pytest.raises(InvalidLevel):
        validate_agent_config(AgentConfig("a", {"billing": 0}))
    with pytest.raises(InvalidSkill):
        validate_agent_config(AgentConfig("a", {"bad skill": 2}))
    with pytest.raises(InvalidConfig):
        validate_agent_config(AgentConfig("a", {}, {"voice": -1}))
    with pytest.raises(InvalidConfig):
        validate_agent_config(AgentConfig("a", {}, {}))


def test_task_order_key() -> None:
    high_new = task_order_key(5, 100.0, 0.0, 2)
    low_old = task_order_key(1, 10.0, 0.0, 1)
    assert high_new < low_old  # priority first
    assert task_order_key(1, 10.0, 0.0, 5) < task_order_key(1, 20.0, 0.0, 1)  # then age
    assert task_order_key(1, 20.0, 15.0, 5) < task_order_key(1, 10.0, 0.0, 1)  # adjusted age


# --- queues and policies ------------------------------------------------------------------


def test_queue_validation() -> None:
    validate_queue_config(QueueConfig("q", eligibility="a>=1", mode="best_skill"), {})
    with pytest.raises(InvalidConfig):
        validate_queue_config(QueueConfig("q", mode="random"), {})
    with pytest.raises(InvalidConfig):
        validate_queue_config(QueueConfig("q", offer_timeout_s=0), {})
    with pytest.raises(InvalidConfig):
        validate_queue_config(QueueConfig("q", wrap_up_s=-1), {})
    with pytest.raises(InvalidExpression):
        validate_queue_config(QueueConfig("q", eligibility="a>="), {})
    overflow = ExceptionRule("r1", "queue_length", "overflow", threshold=5, target_queue_id="nowhere")
    with pytest.raises(InvalidPolicy) as info:
        validate_queue_config(QueueConfig("q", exception_rules=(overflow,)), {})
    assert info.value.details["reason"] == "missing_queue"
    self_loop = ExceptionRule("r1", "wait_time", "overflow", threshold=5, target_queue_id="q")
    with pytest.raises(InvalidPolicy):
        validate_queue_config(QueueConfig("q", exception_rules=(self_loop,)), {})
    with pytest.raises(InvalidConfig):
        validate_queue_config(QueueConfig("q", exception_rules=(ExceptionRule("r", "sometimes", "cancel"),)), {})


def test_entry_overflow_loop_is_rejected() -> None:
    to_b = ExceptionRule("full", "queue_length", "overflow", threshold=3, target_queue_id="b")
    to_a = ExceptionRule("full", "no_agents", "overflow", target_queue_id="a")
    a = QueueConfig("a", exception_rules=(to_b,))
    b = QueueConfig("b")
    validate_queue_config(b, {"a": a})
    with pytest.raises(InvalidPolicy) as info:
        validate_queue_config(QueueConfig("b", exception_rules=(to_a,)), {"a": a, "b": b})
    assert info.value.details["reason"] == "loop"
    # a wait-time overflow back is fine: time passes between hops
    back = ExceptionRule("old", "wait_time", "overflow", threshold=60, target_queue_id="a")
    validate_queue_config(QueueConfig("b", exception_rules=(back,)), {"a": a, "b": b})


def test_policy_validation() -> None:
    queues = {"q1", "q2"}
    ok = RoutingPolicy(
        "p",
        (
            PolicyStep("q1", requirements="a>=3", expires_after_s=30),
            PolicyStep("q1"),
        ),
    )
    validate_policy(ok, queues, {})

    def reason(policy: RoutingPolicy, policies: dict[str, RoutingPolicy] | None = None) -> str:
        with pytest.raises(InvalidPolicy) as info:
            validate_policy(policy, queues, policies or {})
        return info.value.details["reason"]

    assert reason(RoutingPolicy("p", ())) == "empty"
    assert reason(RoutingPolicy("p", (PolicyStep("nope"),))) == "missing_queue"
    assert reason(RoutingPolicy("p", (PolicyStep("q1"), PolicyStep("q2")))) == "unreachable_step"
    assert reason(RoutingPolicy("p", (PolicyStep("q1", expires_after_s=5),))) == "dangling_expiry"
    dangling = RoutingPolicy("p", (PolicyStep("q1", expires_after_s=5),), fallback_policy_id="x")
    assert reason(dangling) == "missing_policy"
    # p → x → p loops forever
    x = RoutingPolicy("x", (PolicyStep("q2", expires_after_s=5),), fallback_policy_id="p")
    p = RoutingPolicy("p", (PolicyStep("q1", expires_after_s=5),), fallback_policy_id="x")
    assert reason(p, {"x": x}) == "loop"
    # p → y (terminal) is fine
    y = RoutingPolicy("y", (PolicyStep("q2"),))
    validate_policy(RoutingPolicy("p", (PolicyStep("q1", expires_after_s=5),), "y"), queues, {"y": y})
    with pytest.raises(InvalidExpression):
        validate_policy(RoutingPolicy("p", (PolicyStep("q1", requirements="a>>2"),)), queues, {})


# --- status transitions -------------------------------------------------------------------


def test_status_table() -> None:
    assert check_status_change("offline", "available", "agent", reason=None, has_assigned_tasks=False) is None
    assert check_status_change("available", "break", "agent", reason="lunch", has_assigned_tasks=True) == "lunch"
    assert check_status_change("available", "break", "agent", reason=None, has_assigned_tasks=False) == "break"
    assert (
        check_status_change("available", "break", "system", reason="missed_offers", has_assigned_tasks=False)
        == "missed_offers"
    )
    refused = [
        ("available", "sleeping", "agent", None, False),  # unknown status
        ("available", "break", "robot", None, False),  # unknown actor
        ("available", "offline", "agent", None, True),  # logging out with work
        ("available", "break", "agent", "missed_offers", False),  # system-only reason
        ("offline", "available", "system", None, False),  # system cannot log agents in
        ("available", "break", "system", "lunch", False),
        ("available", "available", "agent", "why", False),  # a reason without a break
    ]
    for current, new, actor, why, busy in refused:
        with pytest.raises(StatusChangeNotAllowed):
            check_status_change(current, new, actor, reason=why, has_assigned_tasks=busy)
    # a supervisor may force a busy agent out
    assert check_status_change("available", "offline", "supervisor", reason=None, has_assigned_tasks=True) is None
    with pytest.raises(StatusChangeNotAllowed):
        check_status_change(
            "available", "break", "agent", reason="nap", has_assigned_tasks=False, allowed_reasons={"lunch"}
        )


# --- EWT, EMA, opening hours --------------------------------------------------------------


def test_ewt_formula() -> None:
    assert estimate_wait(0, None, 5) is None  # no handle-time history
    assert estimate_wait(3, 120.0, 0) is None  # nobody logged in
    assert estimate_wait(0, 120.0, 4) == pytest.approx(30.0)
    assert estimate_wait(3, 120.0, 4) == pytest.approx(120.0)
    assert estimate_wait(0, 0.0, 100) > 0  # never "0 minutes"


def test_ema() -> None:
    assert ema_update(None, 100.0) == 100.0
    assert ema_update(100.0, 200.0) == 125.0


def test_opening_hours() -> None:
    hours = OpeningHours.parse(["mon-fri 09:00-18:00", "sat 10:00-14:00"])
    assert hours.is_open(datetime(2024, 5, 6, 9, 0))  # Monday 09:00
    assert not hours.is_open(datetime(2024, 5, 6, 18, 0))
    assert hours.is_open(datetime(2024, 5, 11, 13, 59))  # Saturday
    assert not hours.is_open(datetime(2024, 5, 12, 12, 0))  # Sunday
    assert OpeningHours.parse(hours.to_dict()) == hours
    wrap = OpeningHours.parse("sat-mon 00:00-24:00")
    assert wrap.is_open(datetime(2024, 5, 12, 12, 0)) and not wrap.is_open(datetime(2024, 5, 14, 12, 0))
    with pytest.raises(InvalidConfig):
        OpeningHours.parse("someday 9-5")
