"""Each distribution mode picks the agent the mode says."""

from __future__ import annotations

import pytest

from kefu.routing import OfferExpired
from routing.routing_support import Harness


def _idle_agents(h: Harness, mode: str, agents: dict[str, dict[str, int]], **queue: object) -> None:
    h.queue("q", eligibility="billing>=1", mode=mode, **queue)
    for agent_id, skills in agents.items():
        h.agent(agent_id, skills)
        h.advance(1)  # each agent becomes idle one second after the previous one


def test_longest_idle_is_the_default() -> None:
    h = Harness()
    _idle_agents(h, "longest_idle", {"a": {"billing": 1}, "b": {"billing": 5}, "c": {"billing": 3}})
    h.submit("t1", "q")
    assert h.offered_to("t1") == ("a",)
    h.answer("t1")
    h.router.complete("t1")  # a is idle again, now the most recently idle
    h.submit("t2", "q")
    assert h.offered_to("t2") == ("b",)
    h.submit("t3", "q")
    assert h.offered_to("t3") == ("c",)
    h.submit("t4", "q")
    assert h.offered_to("t4") == ("a",)


def test_round_robin_rotates_through_agents() -> None:
    h = Harness()
    _idle_agents(h, "round_robin", {"a": {"billing": 1}, "b": {"billing": 1}, "c": {"billing": 1}})
    order = []
    for i in range(6):
        h.submit(f"t{i}", "q")
        agent = h.answer(f"t{i}")
        h.router.complete(f"t{i}")
        order.append(agent)
    assert order == ["a", "b", "c", "a", "b", "c"]


def test_best_skill_prefers_highest_level_then_longest_idle() -> None:
    h = Harness()
    _idle_agents(
        h,
        "best_skill",
        {"low": {"billing": 1}, "top1": {"billing": 5}, "mid": {"billing": 3}, "top2": {"billing": 5}},
    )
    h.submit("t1", "q")
    assert h.offered_to("t1") == ("top1",)  # top1 idle longer than top2
    h.submit("t2", "q")
    assert h.offered_to("t2") == ("top2",)
    h.submit("t3", "q")
    assert h.offered_to("t3") == ("mid",)


def test_least_occupied_uses_load_ratio() -> None:
    h = Harness()
    h.queue("chat", eligibility="billing>=1", mode="least_occupied")
    h.agent("a", {"billing": 1}, {"chat": 2})
    h.advance(1)
    h.agent("b", {"billing": 1}, {"chat": 4})
    h.advance(1)
    h.submit("t1", "chat", channel="chat")
    assert h.offered_to("t1") == ("a",)  # both empty: longest idle
    h.answer("t1")  # a: 1/2 loaded
    h.submit("t2", "chat", channel="chat")
    assert h.offered_to("t2") == ("b",)
    h.answer("t2")  # b: 1/4
    h.submit("t3", "chat", channel="chat")
    assert h.offered_to("t3") == ("b",)  # 1/4 < 1/2
    h.answer("t3")  # b: 2/4 = a's 1/2 → tie, a idle longer (since its assignment)
    h.submit("t4", "chat", channel="chat")
    assert h.offered_to("t4") == ("a",)


def test_fewest_calls_today() -> None:
    h = Harness()
    _idle_agents(h, "fewest_calls", {"a": {"billing": 1}, "b": {"billing": 1}})
    h.router.set_status("b", "break")
    h.submit("x", "q")
    h.answer("x")  # a handles one call while b is on a break
    h.router.complete("x")
    h.advance(1)
    h.router.set_status("b", "available")  # b idle more recently than a …
    h.submit("y", "q")
    assert h.offered_to("y") == ("b",)  # … but has handled fewer calls today


def test_fewest_calls_resets_at_midnight() -> None:
    h = Harness()
    _idle_agents(h, "fewest_calls", {"a": {"billing": 1}, "b": {"billing": 1}})
    for i in range(3):
        h.submit(f"t{i}", "q")
        h.answer(f"t{i}")
        h.router.complete(f"t{i}")
        h.advance(1)
    counts = {a: h.router.agent_stats(a).handled_today for a in "ab"}
    assert sum(counts.values()) == 3
    h.advance(86_400)  # next day: everybody at 0, longest idle decides
    assert {a: h.router.agent_stats(a).handled_today for a in "ab"} == {"a": 0, "b": 0}
    h.submit("new", "q")
    last_free = max("ab", key=lambda a: h.router.snapshot()["agents"][ord(a) - ord("a")]["idle_since"])
    assert h.offered_to("new") != (last_free,)


def test_ring_all_offers_everyone_and_first_accept_wins() -> None:
    h = Harness()
    _idle_agents(h, "ring_all", {"a": {"billing": 1}, "b": {"billing": 1}, "c": {"billing": 1}})
    h.submit("t1", "q")
    offer = h.last_offer("t1")
    assert set(offer.agent_ids) == {"a", "b", "c"}
    h.router.accept("t1", "b", offer.token)
    assert h.router.task_info("t1")["agent_id"] == "b"
    assert {h.agent_state(a) for a in "ac"} == {"idle"}
    kinds = [e.type for e in h.events if getattr(e, "task_id", None) == "t1"]
    assert kinds[-1] == "offer.withdrawn"
    # the losers' late accepts are fenced off
    with pytest.raises(OfferExpired):
        h.router.accept("t1", "a", offer.token)


def test_ring_all_declines_return_the_task_when_everyone_declined() -> None:
    h = Harness()
    _idle_agents(h, "ring_all", {"a": {"billing": 1}, "b": {"billing": 1}})
    h.submit("t1", "q")
    token = h.last_offer("t1").token
    h.router.reject("t1", "a", token)
    assert h.state("t1") == "offered"  # b still ringing
    h.router.reject("t1", "b", token)
    assert h.state("t1") in ("waiting", "offered")


def test_linear_always_from_the_top() -> None:
    h = Harness()
    h.queue("q", eligibility="billing>=1", mode="linear", linear_order=("c", "a", "b"))
    for agent_id in "abc":
        h.agent(agent_id, {"billing": 1})
    h.submit("t1", "q")
    assert h.offered_to("t1") == ("c",)
    h.answer("t1")
    h.submit("t2", "q")
    assert h.offered_to("t2") == ("a",)
    h.router.complete("t1")  # c is free again: it is first in line, whatever its idle time
    h.submit("t3", "q")
    assert h.offered_to("t3") == ("c",)


def test_offline_and_break_agents_are_never_offered() -> None:
    h = Harness()
    h.queue("q")
    h.agent("off", status=None)
    h.agent("pause", status="break")
    h.submit("t1", "q")
    assert h.state("t1") == "waiting"
    h.agent("on")
    assert h.offered_to("t1") == ("on",)
