"""Event catalogue, JSON form, fold and crash recovery (restore)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kefu.core.time import VirtualClock
from kefu.routing import (
    EVENT_TYPES,
    AgentConfig,
    ExceptionRule,
    OfferExpired,
    PolicyStep,
    QueueConfig,
    Router,
    RouterSettings,
    RoutingPolicy,
    event_from_dict,
    fold,
)
from kefu.routing.events import OfferWithdrawn
from routing.routing_support import START

SETTINGS = RouterSettings(timezone="Asia/Shanghai", max_consecutive_misses=2, missed_offer_delay_s=3)


class Driver:
    """Commands against one router; every decision reads the router itself, so the same
    script gives the same commands on a live router and on a restored one."""

    def __init__(self, router: Router, clock: VirtualClock, events: list[Any]) -> None:
        self.r = router
        self.clock = clock
        self.events = events

    def offer(self, task_id: str) -> tuple[str, int] | None:
        info = self.r.task_info(task_id)
        if info["state"] != "offered":
            return None
        return info["offer_agents"][0], info["token"]

    def accept(self, task_id: str) -> None:
        offer = self.offer(task_id)
        assert offer is not None, task_id
        self.r.accept(task_id, offer[0], offer[1])

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)


def configure(d: Driver) -> None:
    r = d.r
    r.upsert_queue(QueueConfig("spill", wrap_up_s=5))
    r.upsert_queue(
        QueueConfig(
            "billing",
            eligibility="billing>=1",
            wrap_up_s=20,
            offer_timeout_s=15,
            exception_rules=(
                ExceptionRule("cb", "wait_time", "callback_offer", threshold=90),
                ExceptionRule("spill", "wait_time", "overflow", threshold=400, target_queue_id="spill"),
            ),
        )
    )
    r.upsert_queue(QueueConfig("vip", eligibility="billing>=1", mode="best_skill"))
    r.upsert_queue(QueueConfig("chat", mode="least_occupied"))
    r.upsert_queue(QueueConfig("ring", eligibility="billing>=1", mode="ring_all"))
    r.upsert_policy(
        RoutingPolicy(
            "gold",
            (
                PolicyStep("vip", priority=9, requirements="billing>=5", expires_after_s=60),
                PolicyStep("vip", priority=9, requirements="billing>=3", expires_after_s=60),
                PolicyStep("billing", priority=9),
            ),
        )
    )
    skills = {"a1": {"billing": 5}, "a2": {"billing": 3}, "a3": {"billing": 1}, "a4": {}}
    for agent_id, s in skills.items():
        r.upsert_agent(AgentConfig(agent_id, s, {"voice": 1, "chat": 2}))
        r.set_status(agent_id, "available")
        d.advance(1)


def first_part(d: Driver) -> None:
    """Busy traffic; ends at a moment with no offer pending."""
    r = d.r
    for i in range(8):
        r.submit_task(f"b{i}", "billing", priority=i % 3)
        d.advance(2)
    r.submit_task("g1", policy_id="gold")
    r.submit_task("c1", "chat", channel="chat")
    r.submit_task("c2", "chat", channel="chat", attributes={"topic": "refund"})
    d.advance(1)
    for task in ("b0", "b1", "b2", "c1", "c2", "g1"):
        if d.offer(task):
            d.accept(task)
    d.advance(20)  # some offers time out (misses), wrap-ups run
    for task in ("b0", "b1"):
        if r.task_state(task) == "assigned":
            r.complete(task)
    d.advance(3)
    r.transfer("c1", queue_id="spill", keep_place=True)
    r.submit_task("r1", "ring")
    d.advance(100)  # callback offers fire, step expiries
    r.abandon("b7")
    for task in list(r.snapshot()["tasks"]):
        if task["state"] == "offered":
            d.accept(task["id"])
    d.advance(7)
    r.set_status("a4", "break", "training")


def second_part(d: Driver) -> None:
    """Continue identically on both routers."""
    r = d.r
    for step in range(40):
        d.advance(5)
        for task in r.snapshot()["tasks"]:
            if task["state"] == "offered" and step % 3 != 0:
                d.accept(task["id"])
            elif task["state"] == "assigned" and step % 2 == 0:
                r.complete(task["id"])
        if step % 7 == 0:
            r.submit_task(f"n{step}", "billing")
        if step == 10:
            r.set_status("a4", "available")
        if step == 20:
            r.upsert_agent(AgentConfig("a3", {"billing": 4}, {"voice": 1, "chat": 2}))
    d.advance(600)


def live_router() -> tuple[Driver, list[Any]]:
    clock = VirtualClock(START)
    events: list[Any] = []
    d = Driver(Router(clock, events.append, settings=SETTINGS), clock, events)
    configure(d)
    first_part(d)
    return d, events


def as_json(events: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(json.dumps(e.to_dict())) for e in events]


def test_every_event_type_round_trips_through_json() -> None:
    d, events = live_router()
    second_part(d)
    seen = {e.type for e in events}
    assert len(seen) >= 15, seen
    for ev in events:
        data = json.loads(json.dumps(ev.to_dict()))
        assert data["type"] == ev.type
        assert event_from_dict(data) == ev
    assert set(EVENT_TYPES) >= seen
    for cls in EVENT_TYPES.values():
        assert cls.__slots__ == ()  # NamedTuple: slotted, immutable
    with pytest.raises(AttributeError):
        events[0].at = 0.0


def test_fold_equals_live_state_at_every_step() -> None:
    clock = VirtualClock(START)
    events: list[Any] = []
    router = Router(clock, events.append, settings=SETTINGS)
    d = Driver(router, clock, events)
    configure(d)
    first_part(d)
    assert fold(events, timezone=SETTINGS.timezone) == router.state()
    second_part(d)
    assert fold(events, timezone=SETTINGS.timezone) == router.state()
    # folding from a checkpoint gives the same
    half = len(events) // 2
    checkpoint = fold(events[:half], timezone=SETTINGS.timezone)
    assert fold(events[half:], timezone=SETTINGS.timezone, initial=checkpoint) == router.state()


def test_restore_equals_live_and_continues_identically() -> None:
    live, live_events = live_router()
    assert not any(t["state"] == "offered" for t in live.r.snapshot()["tasks"])  # quiescent
    state = fold(as_json_events(live_events), timezone=SETTINGS.timezone)

    clock = VirtualClock(live.clock.now())
    restored_events: list[Any] = []
    restored = Router.restore(state, clock, restored_events.append, settings=SETTINGS)
    assert restored_events == []  # nothing pending, nothing to report
    assert restored.snapshot() == live.r.snapshot()
    assert restored.state() == live.r.state()

    mark = len(live_events)
    second_part(live)
    second_part(Driver(restored, clock, restored_events))
    assert as_json(restored_events) == as_json(live_events[mark:])
    assert restored.snapshot() == live.r.snapshot()


def as_json_events(events: list[Any]) -> list[Any]:
    """Events as the team lead stores them: JSON rows, decoded again."""
    return [event_from_dict(json.loads(json.dumps(e.to_dict()))) for e in events]


def test_pending_offers_at_a_crash_expire_without_blame() -> None:
    clock = VirtualClock(START)
    events: list[Any] = []
    router = Router(clock, events.append, settings=SETTINGS)
    router.upsert_queue(QueueConfig("q", wrap_up_s=30))
    for agent_id in ("a", "b"):
        router.upsert_agent(AgentConfig(agent_id))
        router.set_status(agent_id, "available")
        clock.advance(1)
    router.submit_task("first", "q")
    clock.advance(1)
    router.submit_task("second", "q")
    clock.advance(1)
    router.submit_task("third", "q")  # waits
    first = router.task_info("first")
    assert first["state"] == "offered" and router.task_info("second")["state"] == "offered"
    router.accept("second", router.task_info("second")["offer_agents"][0], router.task_info("second")["token"])
    clock.advance(2)
    # kill -9 here: "first" is ringing at agent a, "second" assigned to b
    state = fold(events, timezone=SETTINGS.timezone)

    clock2 = VirtualClock(clock.now() + 60)  # restarted a minute later
    out: list[Any] = []
    restored = Router.restore(state, clock2, out.append, settings=SETTINGS)
    withdrawn = [e for e in out if isinstance(e, OfferWithdrawn)]
    assert [(e.task_id, e.reason) for e in withdrawn] == [("first", "restored")]
    assert restored.agent_stats("a").misses == 0
    # "first" kept its place ahead of "third" and is offered again with a new token
    info = restored.task_info("first")
    assert info["state"] == "offered" and info["token"] == first["token"] + 1
    assert restored.task_info("third")["state"] == "waiting"
    with pytest.raises(OfferExpired):
        restored.accept("first", "a", first["token"])  # the pre-crash offer is fenced off
    assert restored.task_info("second")["agent_id"] == "b"
    # the combined stream still folds to the restored router's state
    assert fold(events + out, timezone=SETTINGS.timezone) == restored.state()


def test_timers_are_rearmed_after_restore() -> None:
    clock = VirtualClock(START)
    events: list[Any] = []
    router = Router(clock, events.append)
    router.upsert_queue(QueueConfig("q", eligibility="x>=1", wrap_up_s=100))
    router.upsert_queue(QueueConfig("other"))
    router.upsert_policy(RoutingPolicy("p", (PolicyStep("q", expires_after_s=50), PolicyStep("other"))))
    router.upsert_agent(AgentConfig("a", {"x": 1}))
    router.set_status("a", "available")
    router.submit_task("t1", "q")
    router.accept("t1", "a", 1)
    router.complete("t1")  # wrap-up until +100
    router.submit_task("t2", policy_id="p")  # step expiry at +50
    clock.advance(10)
    state = fold(events)

    clock2 = VirtualClock(clock.now())
    restored = Router.restore(state, clock2, [].append)
    clock2.advance(39.9)
    assert restored.task_info("t2")["queue_id"] == "q"
    clock2.advance(0.1)
    assert restored.task_info("t2")["queue_id"] == "other"
    assert restored.agent_stats("a").state == "wrap_up"
    clock2.advance(50)  # wrap-up over: a takes the task that overflowed to "other"
    assert restored.task_info("t2")["offer_agents"] == ["a"]


def test_event_classes_have_from_dict() -> None:
    _, events = live_router()
    for ev in events[:50]:
        assert type(ev).from_dict(ev.to_dict()) == ev
    other = next(e for e in events if e.type != events[0].type)
    with pytest.raises(ValueError):
        type(events[0]).from_dict(other.to_dict())


def test_restore_with_configuration_from_tables() -> None:
    live, events = live_router()
    state = fold(events, timezone=SETTINGS.timezone)
    queues = list(state.queues.values())
    agents = [rec.config for rec in state.agents.values() if rec.id != "a4"]  # a4 left the team
    agents.append(AgentConfig("a9", {"billing": 2}))  # a newcomer
    clock = VirtualClock(live.clock.now())
    restored = Router.restore(
        state, clock, [].append, settings=SETTINGS, queues=queues, agents=agents, policies=state.policies.values()
    )
    ids = {a["id"] for a in restored.snapshot()["agents"]}
    held = {rec.id for rec in state.agents.values() if rec.active or rec.offer_task_id}
    assert "a9" in ids and ("a4" in ids) == ("a4" in held)
    assert restored.agent_stats("a9").status == "offline"
    with pytest.raises(ValueError):
        Router.restore(state, VirtualClock(live.clock.now()), queues=[])  # tasks would lose their queue
