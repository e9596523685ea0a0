"""Property test: random command sequences against the router keep its invariants.

Invariants checked after every step (and, for offers, at the moment they are made):

* every submitted task is in exactly one place: waiting, offered, assigned, or finished
  (once) — nothing lost, nothing duplicated, whatever offers, timeouts, rejections,
  transfers, abandons and restarts happened;
* a task is assigned to at most one agent, and that agent lists it;
* no agent exceeds its capacity on any channel, nor holds two offers;
* an agent is never offered a task while on break/offline, in wrap-up or missed;
* the task offered to an agent is the head, by priority then age, of the waiting tasks
  that agent is eligible for;
* a callback keeps the place in line of the call it replaces;
* ``fold(events)`` equals the live state; a restart (``Router.restore(fold(events))``)
  keeps every task and agent and the stream still folds to the restored state.
"""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from kefu.core.time import VirtualClock
from kefu.routing import (
    AgentConfig,
    ExceptionRule,
    OfferExpired,
    PolicyStep,
    QueueConfig,
    Router,
    RouterSettings,
    RoutingError,
    RoutingPolicy,
    fold,
    parse_requirement,
)
from kefu.routing.events import TaskAbandoned, TaskCancelled, TaskCompleted, TaskOffered
from routing.routing_support import START

SETTINGS = RouterSettings(max_consecutive_misses=3, missed_offer_delay_s=2.0)
QUEUES = {
    "q1": QueueConfig(
        "q1",
        eligibility="a>=1",
        wrap_up_s=3,
        offer_timeout_s=8,
        exception_rules=(ExceptionRule("old", "wait_time", "overflow", 60, "q3"),),
    ),
    "q2": QueueConfig("q2", eligibility="b>=2", mode="ring_all", offer_timeout_s=6),
    "q3": QueueConfig("q3", mode="round_robin", offer_timeout_s=10),
    "chat": QueueConfig("chat", mode="least_occupied", offer_timeout_s=10),
}
POLICY = RoutingPolicy(
    "p",
    (PolicyStep("q1", priority=2, requirements="a>=3", expires_after_s=20), PolicyStep("q3", priority=4)),
)
AGENTS = {
    "a0": AgentConfig("a0", {"a": 3}, {"voice": 1}),
    "a1": AgentConfig("a1", {"a": 1, "b": 2}, {"voice": 1, "chat": 2}),
    "a2": AgentConfig("a2", {"b": 3}, {"voice": 1}),
    "a3": AgentConfig("a3", {}, {"voice": 1, "chat": 3}),
    "a4": AgentConfig("a4", {"a": 5, "b": 5}, {"voice": 1}),
}
TERMINAL = {"completed", "abandoned", "cancelled"}


class RouterMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.clock = VirtualClock(START)
        self.events: list[Any] = []
        self.router = Router(self.clock, self.record, settings=SETTINGS)
        for queue_id in ("q3", "q2", "chat", "q1"):  # q1 overflows into q3: q3 first
            self.router.upsert_queue(QUEUES[queue_id])
        self.router.upsert_policy(POLICY)
        for agent in AGENTS.values():
            self.router.upsert_agent(agent)
            self.router.set_status(agent.id, "available")
        self.submitted: list[str] = []
        self.n = 0
        self.order_violations: list[str] = []
        self.restoring = False

    # --- the sink checks every offer at the moment it is made ----------------------------

    def record(self, event: Any) -> None:
        self.events.append(event)
        if isinstance(event, TaskOffered) and not self.restoring:
            self.check_offer(event)

    def check_offer(self, event: TaskOffered) -> None:
        router = self.router
        offered = router._tasks[event.task_id]
        for agent_id in event.agent_ids:
            agent = router._agents[agent_id]
            if agent.status != "available" or agent.wrap_up_until is not None or agent.missed_until is not None:
                self.order_violations.append(f"{event.task_id} offered to unavailable {agent_id}")
            for other in router._tasks.values():
                if other is offered or other.state != "waiting":
                    continue
                if not self.eligible(agent, other):
                    continue
                if other.order_key() < offered.order_key():
                    self.order_violations.append(
                        f"{agent_id} got {offered.id} {offered.order_key()} while {other.id} {other.order_key()} waited"
                    )

    @staticmethod
    def eligible(agent: Any, task: Any) -> bool:
        if agent.load.get(task.channel, 0) >= agent.capacity.get(task.channel, 0):
            return False
        if task.target_agent is not None:
            return task.target_agent is agent
        queue = QUEUES[task.queue.id]
        skills = agent.skills
        return parse_requirement(queue.eligibility).matches(skills) and task.req.matches(skills)

    # --- rules ---------------------------------------------------------------------------

    def new_id(self) -> str:
        self.n += 1
        return f"t{self.n}"

    @rule(
        where=st.sampled_from(["q1", "q2", "q3", "chat", "policy"]),
        priority=st.integers(0, 3),
        adjustment=st.sampled_from([0.0, 0.0, 15.0]),
    )
    def submit(self, where: str, priority: int, adjustment: float) -> None:
        task_id = self.new_id()
        channel = "chat" if where == "chat" else "voice"
        if where == "policy":
            self.router.submit_task(task_id, policy_id="p", priority=priority, time_adjustment=adjustment)
        else:
            self.router.submit_task(task_id, where, channel=channel, priority=priority, time_adjustment=adjustment)
        self.submitted.append(task_id)

    @precondition(lambda self: any(t.state == "waiting" and t.policy_id is None for t in self.router._tasks.values()))
    @rule(data=st.data())
    def convert_to_callback(self, data: st.DataObject) -> None:
        """The caller takes a callback: the call ends, a callback keeps its place."""
        waiting = sorted(
            (t for t in self.router._tasks.values() if t.state == "waiting" and t.policy_id is None),
            key=lambda t: t.seq,
        )
        task = data.draw(st.sampled_from(waiting))
        queue_id, channel, priority = task.queue.id, task.channel, task.base_priority
        key = task.order_key()
        enqueued_at, adjustment = task.enqueued_at, task.time_adjustment
        self.router.cancel(task.id, reason="callback")
        callback = self.new_id()
        self.router.submit_task(
            callback,
            queue_id,
            channel=channel,
            priority=priority,
            kind="callback",
            enqueued_at=enqueued_at,
            time_adjustment=adjustment,
        )
        self.submitted.append(callback)
        live = self.router._tasks.get(callback)
        if live is not None and live.queue.id == queue_id:
            assert live.order_key()[:2] == key[:2], "a callback keeps its place in line"

    def offered(self) -> list[Any]:
        return sorted((t for t in self.router._tasks.values() if t.state == "offered"), key=lambda t: t.seq)

    @precondition(lambda self: bool(self.offered()))
    @rule(data=st.data())
    def accept(self, data: st.DataObject) -> None:
        task = data.draw(st.sampled_from(self.offered()))
        agent = data.draw(st.sampled_from([a.id for a in task.offer_agents]))
        self.router.accept(task.id, agent, task.token)

    @precondition(lambda self: bool(self.offered()))
    @rule(data=st.data())
    def reject(self, data: st.DataObject) -> None:
        task = data.draw(st.sampled_from(self.offered()))
        agent = data.draw(st.sampled_from([a.id for a in task.offer_agents]))
        self.router.reject(task.id, agent, task.token)

    @precondition(lambda self: bool(self.submitted))
    @rule(data=st.data())
    def late_accept(self, data: st.DataObject) -> None:
        """An accept with a stale token or for a finished task changes nothing."""
        task_id = data.draw(st.sampled_from(self.submitted))
        agent_id = data.draw(st.sampled_from(sorted(AGENTS)))
        task = self.router._tasks.get(task_id)
        if task is not None and task.token == 0:
            return
        token = task.token - 1 if task is not None else 1
        if token < 1:
            return
        before = len(self.events)
        with contextlib.suppress(OfferExpired):
            self.router.accept(task_id, agent_id, token)
        assert len(self.events) == before

    @rule(seconds=st.sampled_from([0.0, 0.5, 1.0, 3.0, 7.0, 12.0, 25.0, 70.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def assigned(self) -> list[Any]:
        return sorted((t for t in self.router._tasks.values() if t.state == "assigned"), key=lambda t: t.seq)

    @precondition(lambda self: bool(self.assigned()))
    @rule(data=st.data(), wrap=st.booleans())
    def complete(self, data: st.DataObject, wrap: bool) -> None:
        task = data.draw(st.sampled_from(self.assigned()))
        self.router.complete(task.id, wrap_up=wrap)

    @precondition(lambda self: any(t.state != "assigned" for t in self.router._tasks.values()))
    @rule(data=st.data())
    def abandon(self, data: st.DataObject) -> None:
        tasks = sorted((t for t in self.router._tasks.values() if t.state != "assigned"), key=lambda t: t.seq)
        self.router.abandon(data.draw(st.sampled_from(tasks)).id)

    @precondition(lambda self: bool(self.router._tasks))
    @rule(data=st.data(), to_agent=st.booleans(), keep_place=st.booleans())
    def transfer(self, data: st.DataObject, to_agent: bool, keep_place: bool) -> None:
        task = data.draw(st.sampled_from(sorted(self.router._tasks.values(), key=lambda t: t.seq)))
        try:
            if to_agent:
                self.router.transfer(task.id, agent_id=data.draw(st.sampled_from(sorted(AGENTS))))
            else:
                queue = data.draw(st.sampled_from(["q1", "q3"] if task.channel == "voice" else ["chat"]))
                self.router.transfer(task.id, queue_id=queue, keep_place=keep_place)
        except RoutingError:
            pass  # e.g. the agent is offline or already has the task: nothing changed

    @rule(
        agent=st.sampled_from(sorted(AGENTS)),
        status=st.sampled_from(["available", "available", "break", "offline"]),
        actor=st.sampled_from(["agent", "supervisor"]),
    )
    def set_status(self, agent: str, status: str, actor: str) -> None:
        with contextlib.suppress(RoutingError):
            self.router.set_status(agent, status, "lunch" if status == "break" else None, actor=actor)

    @rule(agent=st.sampled_from(sorted(AGENTS)), a=st.integers(0, 5), b=st.integers(0, 5))
    def change_skills(self, agent: str, a: int, b: int) -> None:
        skills = {k: v for k, v in (("a", a), ("b", b)) if v}
        config = AGENTS[agent]
        self.router.upsert_agent(AgentConfig(agent, skills, config.capacity))

    @rule(agent=st.sampled_from(sorted(AGENTS)))
    def end_wrap_up(self, agent: str) -> None:
        self.router.end_wrap_up(agent)

    @rule()
    def restart(self) -> None:
        """kill -9 and restart from the event stream."""
        state = fold(self.events)
        before = {t.id: t.state for t in self.router._tasks.values()}
        self.clock = VirtualClock(self.clock.now())
        # offers made while restoring can't be checked against a router that doesn't exist
        # yet; the "no idle agent while an eligible task waits" invariant covers them after
        self.restoring = True
        try:
            self.router = Router.restore(state, self.clock, self.record, settings=SETTINGS)
        finally:
            self.restoring = False
        after = {t.id: t.state for t in self.router._tasks.values()}
        assert set(after) == set(before)
        for task_id, was in before.items():
            if was == "assigned":
                assert after[task_id] == "assigned"

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def offers_were_legal(self) -> None:
        assert not self.order_violations, self.order_violations[:3]

    @invariant()
    def every_task_in_exactly_one_place(self) -> None:
        router = self.router
        finished: dict[str, int] = {}
        for ev in self.events:
            if isinstance(ev, TaskCompleted | TaskAbandoned | TaskCancelled):
                finished[ev.task_id] = finished.get(ev.task_id, 0) + 1
        assert all(count == 1 for count in finished.values()), "a task finished twice"
        for task_id in self.submitted:
            live = task_id in router._tasks
            assert live != (task_id in finished), task_id
            state = router.task_state(task_id)
            assert (state in TERMINAL) == (not live)
        queued = [t for q in router._queues.values() for t in q.tasks]
        assert len(queued) == len(set(queued))
        for task in router._tasks.values():
            in_queue = task.id in task.queue.tasks
            assert in_queue == (task.state in ("waiting", "offered")), task.id
            in_line = task.entry is not None
            assert in_line == (task.state == "waiting"), task.id

    @invariant()
    def assignments_and_capacity(self) -> None:
        router = self.router
        holders: dict[str, str] = {}
        for agent in router._agents.values():
            for task_id in agent.active:
                assert task_id not in holders, f"{task_id} assigned to two agents"
                holders[task_id] = agent.id
            for channel, load in agent.load.items():
                assert load == sum(1 for c in agent.active.values() if c == channel)
            offer = agent.offer_task
            if offer is not None:
                assert agent in offer.offer_agents and offer.state == "offered"
        for task in router._tasks.values():
            if task.state == "assigned":
                assert task.agent is not None and holders.get(task.id) == task.agent.id
            else:
                assert task.id not in holders
            if task.state == "offered":
                assert task.offer_agents and all(a.offer_task is task for a in task.offer_agents)
        for agent_id, config in AGENTS.items():
            agent = router._agents[agent_id]
            for channel, load in agent.load.items():
                assert load <= config.capacity.get(channel, 0), f"{agent_id} over capacity on {channel}"

    @invariant()
    def no_idle_agent_while_an_eligible_task_waits(self) -> None:
        router = self.router
        for agent in router._agents.values():
            if not router._routable(agent):
                continue
            for task in router._tasks.values():
                if task.state == "waiting" and self.eligible(agent, task):
                    raise AssertionError(f"{agent.id} idle while {task.id} waits")

    @invariant()
    def bucket_indexes_are_consistent(self) -> None:
        for bucket in self.router._all_buckets():
            assert bucket.waiting == len(bucket.tasks)
            assert bucket.head is (bucket.tasks[0] if bucket.tasks else None)
            for entry in bucket.tasks:
                task = entry[3]
                assert task.entry is entry and task.bucket is bucket and task.state == "waiting"

    @invariant()
    def fold_equals_live_state(self) -> None:
        assert fold(self.events) == self.router.state()


RouterMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_router_state_machine = RouterMachine.TestCase
