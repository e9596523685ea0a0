"""Live configuration changes, estimated wait time and statistics."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from kefu.core.time import from_datetime
from kefu.routing import (
    AgentConfig,
    InUse,
    InvalidArgument,
    InvalidConfig,
    InvalidLevel,
    InvalidSkill,
    QueueConfig,
    RouterSettings,
    UnknownAgent,
    UnknownQueue,
)
from routing.routing_support import Harness

# --- live configuration ----------------------------------------------------------------


def test_new_agent_takes_waiting_tasks_when_it_logs_in() -> None:
    h = Harness()
    h.queue("q", eligibility="zh>=3")
    h.submit("t", "q")
    h.agent("a", {"zh": 2})
    assert h.state("t") == "waiting"
    h.router.upsert_agent(AgentConfig("a", {"zh": 4}))  # promoted: re-matched at once
    assert h.offered_to("t") == ("a",)


def test_skill_removal_stops_offers() -> None:
    h = Harness()
    h.queue("q", eligibility="zh>=3")
    h.agent("a", {"zh": 4})
    h.router.upsert_agent(AgentConfig("a", {"en": 4}))
    h.submit("t", "q")
    assert h.state("t") == "waiting"
    assert h.router.queue_stats("q").staffed == 0


def test_queue_eligibility_change_rematches() -> None:
    h = Harness()
    h.queue("q", eligibility="zh>=5")
    h.agent("a", {"zh": 3})
    h.submit("t1", "q")
    h.submit("t2", "q")
    assert h.state("t1") == "waiting"
    h.queue("q", eligibility="zh>=3")
    assert h.offered_to("t1") == ("a",)  # the head of the line
    assert h.state("t2") == "waiting"


def test_queue_mode_change_keeps_waiting_tasks_in_order() -> None:
    h = Harness()
    h.queue("q")
    for i in range(3):
        h.submit(f"t{i}", "q")
        h.advance(1)
    h.queue("q", mode="round_robin", wrap_up_s=5)
    assert h.router.snapshot()["queues"][0]["tasks"] == ["t0", "t1", "t2"]
    h.agent("a")
    assert h.offered_to("t0") == ("a",)


def test_idempotent_upserts_emit_nothing() -> None:
    h = Harness()
    h.queue("q")
    h.agent("a", {"x": 1})
    mark = h.mark()
    h.queue("q")
    h.router.upsert_agent(AgentConfig("a", {"x": 1}))
    assert h.mark() == mark


def test_bad_config_changes_nothing() -> None:
    h = Harness(RouterSettings(skill_catalogue=frozenset({"zh", "en"})))
    h.queue("q")
    mark = h.mark()
    for call, error in [
        (lambda: h.queue("q", mode="random"), InvalidConfig),
        (lambda: h.queue("q2", eligibility="fr>=1"), InvalidSkill),
        (lambda: h.router.upsert_agent(AgentConfig("a", {"fr": 1})), InvalidSkill),
        (lambda: h.router.upsert_agent(AgentConfig("a", {"zh": 7})), InvalidLevel),
        (lambda: h.router.upsert_agent("a"), InvalidArgument),  # type: ignore[arg-type]
        (lambda: h.router.set_status("ghost", "available"), UnknownAgent),
        (lambda: h.router.remove_queue("ghost"), UnknownQueue),
    ]:
        with pytest.raises(error):
            call()
    assert h.mark() == mark


def test_remove_queue_and_agent() -> None:
    h = Harness()
    h.queue("q")
    h.queue("empty")
    h.agent("a")
    h.submit("t", "q")
    with pytest.raises(InUse):
        h.router.remove_queue("q")
    h.router.remove_queue("empty")
    with pytest.raises(UnknownQueue):
        h.submit("u", "empty")
    h.answer("t")
    with pytest.raises(InUse):
        h.router.remove_agent("a")
    h.router.complete("t")
    h.router.remove_agent("a")
    with pytest.raises(UnknownAgent):
        h.router.agent_stats("a")
    h.submit("v", "q")
    assert h.state("v") == "waiting"


def test_removing_a_ringing_agent_returns_the_task() -> None:
    h = Harness()
    h.queue("q")
    h.agent("a")
    h.advance(1)
    h.agent("b", status="break")
    h.submit("t", "q")
    h.router.remove_agent("a")
    assert h.state("t") == "waiting"
    h.router.set_status("b", "available")
    assert h.offered_to("t") == ("b",)


# --- EWT ----------------------------------------------------------------------------------


def test_ewt_unknown_until_there_is_data() -> None:
    h = Harness()
    h.queue("q", wrap_up_s=0)
    h.submit("t1", "q")
    assert h.router.estimated_wait("t1") is None  # no agent, no history
    assert h.router.queue_ewt("q") is None
    h.agent("a")
    h.answer("t1")
    h.submit("t2", "q")
    assert h.router.estimated_wait("t2") is None  # staffed, but no handle time yet
    h.advance(120)
    h.router.complete("t1")  # a takes t2 now; EMA = 120 s
    h.submit("t3", "q")
    h.submit("t4", "q")
    assert h.router.estimated_wait("t3") == pytest.approx(120.0)  # 1 agent, first in line
    assert h.router.estimated_wait("t4") == pytest.approx(240.0)
    assert h.router.queue_ewt("q") == pytest.approx(360.0)
    h.router.set_status("a", "break", actor="supervisor")
    assert h.router.estimated_wait("t3") is None  # nobody logged in: unknown, not 0


def test_ewt_counts_wrap_up_and_staffed_agents() -> None:
    h = Harness()
    h.queue("q", wrap_up_s=30)
    for agent_id in "ab":
        h.agent(agent_id)
    h.submit("x", "q")
    h.submit("y", "q")
    h.answer("x")
    h.answer("y")
    h.advance(90)
    h.router.complete("x")
    h.submit("w", "q")
    assert h.router.estimated_wait("w") == pytest.approx((90 + 30) / 2)


# --- statistics ---------------------------------------------------------------------------


def test_queue_stats_counters() -> None:
    h = Harness(RouterSettings(short_abandon_s=5))
    h.queue("q", sl_threshold_s=20)
    h.submit("fast", "q")
    h.submit("slow", "q")
    h.submit("gone", "q")
    h.submit("quick_hangup", "q")
    h.advance(3)
    h.router.abandon("quick_hangup")
    h.advance(7)
    h.agent("a")
    h.answer("fast")  # waited 10 s
    h.advance(20)
    h.router.abandon("gone")  # waited 30 s
    h.router.complete("fast")
    h.answer("slow")  # waited 30 s
    stats = h.router.queue_stats("q")
    assert (stats.offered, stats.answered, stats.answered_in_sl) == (4, 2, 1)
    assert (stats.abandoned, stats.abandoned_short, stats.handled) == (2, 1, 1)
    assert stats.service_level == pytest.approx(0.25)
    assert stats.average_answer_s == pytest.approx(20.0)
    assert stats.agents_by_state["busy"] == 1 and stats.agents_by_status["available"] == 1
    assert stats.waiting == 0 and stats.longest_wait_s is None
    json.dumps(stats.to_dict())


def test_longest_wait_and_agent_stats() -> None:
    h = Harness()
    h.queue("q")
    h.submit("t1", "q")
    h.advance(40)
    h.submit("t2", "q")
    h.advance(5)
    assert h.router.queue_stats("q").longest_wait_s == pytest.approx(45)
    h.agent("a")
    h.answer("t1")
    assert h.router.queue_stats("q").longest_wait_s == pytest.approx(5)
    h.advance(12)
    a = h.router.agent_stats("a")
    assert (a.state, a.status, a.time_in_state_s, a.active_tasks) == ("busy", "available", 12, ("t1",))
    json.dumps(a.to_dict())


def test_counters_reset_at_midnight_in_tenant_timezone() -> None:
    h = Harness(RouterSettings(timezone="Asia/Shanghai"))  # START is 06:13 Wednesday in Shanghai
    h.queue("q")
    h.agent("a")
    h.submit("t", "q")
    h.answer("t")
    h.router.complete("t")
    assert h.router.queue_stats("q").handled == 1
    assert h.router.agent_stats("a").handled_today == 1
    midnight = from_datetime(datetime(2023, 11, 16, tzinfo=ZoneInfo("Asia/Shanghai")))
    h.advance(midnight - 1 - h.clock.now())  # 23:59:59 local
    assert h.router.queue_stats("q").handled == 1
    h.advance(2)
    assert h.router.queue_stats("q").handled == 0
    assert h.router.agent_stats("a").handled_today == 0


def test_snapshot_is_json() -> None:
    h = Harness()
    h.queue("q", eligibility="x>=1")
    h.agent("a", {"x": 2})
    h.submit("t1", "q", attributes={"caller": "138****1234"})
    h.submit("t2", "q")
    snap = h.router.snapshot()
    text = json.dumps(snap)
    assert "138****1234" in text
    assert snap["queues"][0]["tasks"] == ["t1", "t2"]  # in line or ringing, in routing order
    assert snap["queues"][0]["stats"]["waiting"] == 2
    assert [t["state"] for t in snap["tasks"]] == ["offered", "waiting"]


def test_queue_config_round_trip() -> None:
    from kefu.routing import ExceptionRule, OpeningHours

    cfg = QueueConfig(
        "q",
        eligibility="a>=1",
        mode="linear",
        hours=OpeningHours.parse("mon-fri 08:00-20:00"),
        exception_rules=(ExceptionRule("r", "wait_time", "announce", 30.0),),
        linear_order=("x", "y"),
    )
    assert QueueConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
