"""The in-memory routing engine (ACD): one :class:`Router` per tenant.

The router is a single-writer, synchronous state machine driven by a clock port
(:mod:`kefu.core.time`). Commands (``submit_task``, ``accept``, ``complete``,
``set_status`` …) and clock timers (offer timeouts, wrap-up ends, policy-step expiries,
exception-rule waits) change its state; every change is reported, in order, as typed
events (:mod:`kefu.routing.events`) to the ``sink`` callable given at construction. The
sink must not call back into the router synchronously (schedule on the clock instead).

Matching is incremental. Tasks and agents meet in *buckets*: one per (queue,
requirement set, channel), created lazily when a task first needs it, plus one per
(agent, channel) for tasks transferred to a named agent. A bucket holds

* its members (agents meeting the queue's eligibility and the requirements, with
  capacity on the channel) and how many of them are logged in (``staffed``);
* the waiting tasks, sorted by (priority desc, effective age desc, submission seq);
* the *idle index*: members that can take a task now, ordered by the queue's
  distribution-mode key. Entries are invalidated lazily by a per-agent version number,
  kept in a FIFO deque when keys arrive in order (the usual case: an agent becomes idle
  "now") with a heap for out-of-order keys, and compacted when stale entries pile up.

When a task arrives it takes the best idle member of its bucket (L1); when an agent can
take work it compares the head tasks of its own buckets only (L2). Neither scans all
agents or all tasks; cost per decision is O(buckets of the agent · log n).
"""

from __future__ import annotations

import heapq
import math
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from itertools import chain
from typing import Any

from sortedcontainers import SortedList

from kefu.core.time import Clock, TimerHandle
from kefu.routing import rules
from kefu.routing.errors import (
    DuplicateTask,
    InUse,
    InvalidArgument,
    OfferExpired,
    OfferNotFound,
    QueueClosed,
    QueueFull,
    RoutingError,
    TaskNotAssignedToAgent,
    TaskStateConflict,
    UnknownAgent,
    UnknownPolicy,
    UnknownQueue,
    UnknownTask,
)
from kefu.routing.events import (
    AgentAutoPaused,
    AgentMissedCleared,
    AgentRecord,
    AgentRemoved,
    AgentStateChanged,
    AgentStatusChanged,
    AgentUpserted,
    ExceptionTriggered,
    OfferRejected,
    OfferTimedOut,
    OfferWithdrawn,
    PolicyRemoved,
    PolicyUpserted,
    QueueCounters,
    QueueRemoved,
    QueueUpserted,
    RouterState,
    TaskAbandoned,
    TaskAssigned,
    TaskCancelled,
    TaskCompleted,
    TaskOffered,
    TaskOverflowed,
    TaskQueued,
    TaskRecord,
    TaskRequirementsRelaxed,
    TaskTransferred,
    TaskUpdated,
    WrapUpEnded,
    _freeze,
    with_config,
)
from kefu.routing.rules import (
    ABANDONED,
    ACTOR_SYSTEM,
    ASSIGNED,
    AVAILABLE,
    BEST_SKILL,
    BREAK,
    BUSY,
    CANCELLED,
    COMPLETED,
    ENDING_ACTIONS,
    FEWEST_CALLS,
    IDLE,
    LEAST_OCCUPIED,
    LINEAR,
    LONGEST_IDLE,
    MISSED,
    MISSED_OFFERS_REASON,
    OFFERED,
    OFFLINE,
    RESERVED,
    RING_ALL,
    ROUND_ROBIN,
    WAITING,
    WRAP_UP,
    AgentConfig,
    DayCalendar,
    ExceptionRule,
    QueueConfig,
    Requirement,
    RouterSettings,
    RoutingPolicy,
)

__all__ = ["AgentStats", "HolidayCalendar", "QueueStats", "Router", "Sink"]

_FROZEN_EMPTY = _freeze(None)
# Hot paths build their events with tuple.__new__(EventClass, (fields…)): the same
# immutable NamedTuple, without the Python-level __new__ frame of namedtuple (the field
# order is the class's; tests round-trip every event type).
_new = tuple.__new__

Sink = Callable[[Any], None]
#: ``holidays(queue_id, local_date) -> True`` when the queue is closed that whole day.
HolidayCalendar = Callable[[str, date], bool]

_NO_REQUIREMENT = rules.parse_requirement("")
_heappush = heapq.heappush
_heappop = heapq.heappop


def _noop(_event: Any) -> None:
    pass


# --------------------------------------------------------------------------------------
# internal records


class _Agent:
    __slots__ = (
        "active",
        "buckets",
        "cap_total",
        "capacity",
        "config",
        "direct",
        "handled_day",
        "handled_today",
        "id",
        "idle_since",
        "load",
        "missed_timer",
        "missed_until",
        "misses",
        "offer_task",
        "queues",
        "reason",
        "removed",
        "rr",
        "seq",
        "single_channel",
        "skills",
        "state",
        "state_since",
        "status",
        "version",
        "wrap_timer",
        "wrap_up_until",
    )

    def __init__(self, config: AgentConfig, seq: int, now: float) -> None:
        self.id = config.id
        self.seq = seq
        self.status = OFFLINE
        self.reason: str | None = None
        self.state = IDLE
        self.state_since = now
        self.idle_since = now
        self.misses = 0
        self.wrap_up_until: float | None = None
        self.wrap_timer: TimerHandle | None = None
        self.missed_until: float | None = None
        self.missed_timer: TimerHandle | None = None
        self.handled_today = 0
        self.handled_day: str | None = None
        self.active: dict[str, str] = {}  # task id → channel
        self.load: dict[str, int] = {}  # channel → active task count
        self.offer_task: _Task | None = None
        self.rr: dict[str, int] = {}
        self.version = 0
        self.buckets: dict[_Bucket, None] = {}
        self.queues: dict[str, _Queue] = {}
        self.direct: dict[str, _Bucket] = {}
        self.removed = False
        self.apply_config(config)

    def apply_config(self, config: AgentConfig) -> None:
        self.config = config
        self.skills: dict[str, int] = dict(config.skills)
        self.capacity: dict[str, int] = dict(config.capacity)
        self.cap_total = max(1, sum(self.capacity.values()))
        channels = [c for c, n in self.capacity.items() if n > 0]
        self.single_channel: str | None = channels[0] if len(channels) == 1 else None

    def free_on(self, channel: str) -> bool:
        return self.load.get(channel, 0) < self.capacity.get(channel, 0)


class _Task:
    """A live task. Attributes that most tasks never change are class-level defaults, so a
    new task costs only the stores of what it really has (this is on the hot path)."""

    # always set at submission
    id: str
    seq: int
    priority: int
    base_priority: int
    enqueued_at: float
    queue_entered_at: float
    step_started_at: float
    queue: _Queue
    bucket: _Bucket
    # defaults (set at submission only when different)
    kind: str = "call"
    channel: str = "voice"
    attributes: Any = _FROZEN_EMPTY
    policy_id: str | None = None
    step: int = 0
    req: Requirement = _NO_REQUIREMENT
    time_adjustment: float = 0.0
    state: str = WAITING
    token: int = 0
    agent: _Agent | None = None
    assigned_at: float | None = None
    deferred: bool = False
    entry: tuple[Any, ...] | None = None
    entry_no: int = 0
    step_no: int = 0
    fired: frozenset[str] = frozenset()  # exception rules fired in the current queue
    offer_agents: tuple[_Agent, ...] = ()
    round_ids: tuple[str, ...] = ()
    offer_expires_at: float | None = None
    offer_timer: TimerHandle | None = None
    timers: list[TimerHandle] | None = None
    target_agent: _Agent | None = None

    def order_key(self) -> tuple[int, float, int]:
        return (-self.priority, self.enqueued_at - self.time_adjustment, self.seq)


class _Queue:
    __slots__ = (
        "assigned",
        "base_buckets",
        "bucket_cache",
        "closed_rule",
        "config",
        "counters",
        "eligibility",
        "ema",
        "entries",
        "entry_rules",
        "has_entry_checks",
        "id",
        "linear_rank",
        "members",
        "offer_line",
        "tasks",
        "wait_rules",
    )

    def __init__(self, config: QueueConfig) -> None:
        self.id = config.id
        self.members: dict[str, _Agent] = {}
        # (step requirement, channel) → shared bucket (queue eligibility AND requirement)
        self.bucket_cache: dict[tuple[str, str], _Bucket] = {}
        self.base_buckets: dict[str, _Bucket] = {}  # channel → bucket without step requirements
        self.tasks: dict[str, _Task] = {}  # waiting or offered tasks whose queue this is
        self.entries: deque[tuple[float, int, _Task]] = deque()  # for the longest wait
        self.assigned = 0
        self.counters = QueueCounters()
        self.ema: float | None = None
        self.apply_config(config)

    def apply_config(self, config: QueueConfig) -> None:
        self.config = config
        self.offer_line: _TimerLine | None = None  # set by Router._offer_line
        self.eligibility = rules.parse_requirement(config.eligibility)
        self.closed_rule: ExceptionRule | None = next(
            (r for r in config.exception_rules if r.trigger == "closed"), None
        )
        self.entry_rules = tuple(r for r in config.exception_rules if r.trigger in ("queue_length", "no_agents"))
        self.wait_rules = tuple(r for r in config.exception_rules if r.trigger == "wait_time")
        self.has_entry_checks = bool(
            config.hours is not None or config.max_length is not None or self.entry_rules or self.closed_rule
        )
        self.linear_rank = {agent_id: i for i, agent_id in enumerate(config.linear_order)}


class _Bucket:
    """Where waiting tasks meet the agents that can take them.

    Shared by every queue whose eligibility AND step requirements are the same expression
    on the same channel with the same distribution mode (``scope`` is the queue itself for
    the queue-specific modes round_robin and linear). An agent is in one bucket per
    distinct requirement set it meets, not one per queue.
    """

    __slots__ = (
        "channel",
        "fifo",
        "head",
        "heap",
        "key",
        "limit",
        "members",
        "mode",
        "plain",
        "refs",
        "req",
        "scope",
        "score_skills",
        "staffed",
        "tasks",
        "waiting",
    )

    def __init__(self, key: Any, req: Requirement, channel: str, mode: str, scope: _Queue | None) -> None:
        self.key = key
        self.req = req
        self.channel = channel
        self.mode = mode
        self.plain = mode == LONGEST_IDLE or mode == RING_ALL  # idle key: agent.idle_since
        self.scope = scope
        self.score_skills = tuple(sorted(req.skills))
        self.refs = 0  # queue cache entries pointing here
        self.members: dict[str, _Agent] = {}
        self.staffed = 0
        self.tasks: SortedList = SortedList()  # entries (-priority, effective entry time, seq, task)
        self.waiting = 0  # len(tasks), kept as a plain int for the hot loops
        self.head: tuple[Any, ...] | None = None  # tasks[0], cached for the hot loops
        self.fifo: deque[tuple[Any, int, int, _Agent]] = deque()
        self.heap: list[tuple[Any, int, int, _Agent]] = []
        self.limit = 32

    def add_task(self, entry: tuple[Any, ...]) -> None:
        self.tasks.add(entry)
        self.waiting += 1
        head = self.head
        if head is None or entry < head:
            self.head = entry

    def remove_task(self, entry: tuple[Any, ...]) -> None:
        tasks = self.tasks
        if entry is self.head:
            tasks.pop(0)
            self.waiting -= 1
            self.head = tasks[0] if self.waiting else None
        else:
            tasks.remove(entry)
            self.waiting -= 1

    def push(self, entry: tuple[Any, int, int, _Agent]) -> None:
        fifo = self.fifo
        if not fifo or entry >= fifo[-1]:
            fifo.append(entry)
        else:
            _heappush(self.heap, entry)
        if len(fifo) + len(self.heap) > self.limit:
            self.compact()

    def pop_idle(self) -> _Agent | None:
        fifo = self.fifo
        heap = self.heap
        while fifo:
            e = fifo[0]
            if e[2] == e[3].version:
                break
            fifo.popleft()
        while heap:
            e = heap[0]
            if e[2] == e[3].version:
                break
            _heappop(heap)
        if fifo:
            if heap and heap[0] < fifo[0]:
                return _heappop(heap)[3]
            return fifo.popleft()[3]
        if heap:
            return _heappop(heap)[3]
        return None

    def pop_all_idle(self) -> list[_Agent]:
        valid = sorted(e for e in chain(self.fifo, self.heap) if e[2] == e[3].version)
        self.fifo.clear()
        self.heap.clear()
        return [e[3] for e in valid]

    def idle_agents(self) -> list[_Agent]:
        return [e[3] for e in sorted(e for e in chain(self.fifo, self.heap) if e[2] == e[3].version)]

    def compact(self) -> None:
        valid = sorted(e for e in chain(self.fifo, self.heap) if e[2] == e[3].version)
        self.fifo = deque(valid)
        self.heap = []
        self.limit = 2 * len(self.members) + 32

    def clear_idle(self) -> None:
        self.fifo.clear()
        self.heap.clear()


class _TimerLine:
    """Timers of one fixed duration (e.g. a queue's offer timeout): their due times come
    in the order they are added, so one clock timer armed for the earliest *live* entry
    serves them all. Entries are ``(due, a, b)``; ``live(a, b)`` tells whether an entry
    still matters (an accepted offer's timeout does not) and ``fire(a, b)`` runs it. Every
    live entry fires exactly at its due time — this is not polling; stale entries are
    dropped when they reach the head, so a busy line costs one clock timer per timeout
    window instead of one per offer."""

    __slots__ = ("armed_for", "busy", "clock", "entries", "fire", "handle", "live", "seconds")

    def __init__(self, clock: Clock, fire: Callable[[Any, Any], None], live: Callable[[Any, Any], bool]) -> None:
        self.clock = clock
        self.fire = fire
        self.live = live
        self.entries: deque[tuple[float, Any, Any]] = deque()
        self.handle: TimerHandle | None = None
        self.armed_for = 0.0
        self.busy = False
        self.seconds = 0.0  # the fixed duration (informative; the offer lines use it)

    def add(self, due: float, a: Any, b: Any) -> bool:
        """Queue an entry; False if it is due before the last one (use a plain timer)."""
        entries = self.entries
        if entries and due < entries[-1][0]:
            return False
        entries.append((due, a, b))
        if self.handle is None and not self.busy:
            self.armed_for = due
            self.handle = self.clock.call_at(due, self._wake)
        return True

    def _wake(self) -> None:
        self.handle = None
        self.busy = True
        try:
            due = max(self.clock.now(), self.armed_for)
            entries, live, fire = self.entries, self.live, self.fire
            while entries and entries[0][0] <= due:
                _, a, b = entries.popleft()
                if live(a, b):
                    fire(a, b)
            while entries and not live(entries[0][1], entries[0][2]):
                entries.popleft()
        finally:
            self.busy = False
        if self.entries and self.handle is None:
            self.armed_for = self.entries[0][0]
            self.handle = self.clock.call_at(self.armed_for, self._wake)

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        self.entries.clear()


# --------------------------------------------------------------------------------------
# read models


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Live figures of a queue. Counters are today's (tenant timezone)."""

    queue_id: str
    waiting: int
    longest_wait_s: float | None
    ewt_s: float | None
    staffed: int
    agents_by_status: dict[str, int]
    agents_by_state: dict[str, int]
    offered: int
    answered: int
    answered_in_sl: int
    abandoned: int
    abandoned_short: int
    handled: int
    overflowed_out: int
    cancelled: int
    average_handle_s: float | None
    average_answer_s: float | None
    service_level: float | None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class AgentStats:
    agent_id: str
    status: str
    break_reason: str | None
    state: str
    time_in_state_s: float
    handled_today: int
    active_tasks: tuple[str, ...]
    offered_task: str | None
    misses: int

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__slots__}
        out["active_tasks"] = list(self.active_tasks)
        return out


# --------------------------------------------------------------------------------------
# the router


class Router:
    """One tenant's ACD. See the module docstring for the matching model.

    Configuration: :meth:`upsert_queue`, :meth:`remove_queue`, :meth:`upsert_agent`,
    :meth:`remove_agent`, :meth:`upsert_policy`, :meth:`remove_policy` (applied live).
    Agents: :meth:`set_status`, :meth:`end_wrap_up`.
    Tasks: :meth:`submit_task`, :meth:`accept` / :meth:`accept_offer`, :meth:`reject`,
    :meth:`complete`, :meth:`abandon`, :meth:`cancel`, :meth:`transfer`,
    :meth:`update_task`.
    Reads: :meth:`estimated_wait`, :meth:`queue_ewt`, :meth:`queue_stats`,
    :meth:`agent_stats`, :meth:`task_info`, :meth:`snapshot`, :meth:`state`.
    Recovery: :meth:`restore` (from :func:`kefu.routing.events.fold`).

    Every command validates all its preconditions first; when it raises a
    :class:`~kefu.routing.errors.RoutingError` nothing has changed and no event was emitted.
    """

    def __init__(
        self,
        clock: Clock,
        sink: Sink | None = None,
        *,
        settings: RouterSettings | None = None,
        holidays: HolidayCalendar | None = None,
    ) -> None:
        self._clock = clock
        self._emit: Sink = sink if sink is not None else _noop
        self.settings = settings if settings is not None else RouterSettings()
        self._days = DayCalendar(self.settings.timezone)
        self._holidays = holidays
        self._catalogue = self.settings.skill_catalogue
        self._agents: dict[str, _Agent] = {}
        self._queues: dict[str, _Queue] = {}
        self._policies: dict[str, RoutingPolicy] = {}
        self._policy_tasks: dict[str, dict[str, _Task]] = {}
        self._tasks: dict[str, _Task] = {}
        self._finished: OrderedDict[str, str] = OrderedDict()
        self._skill_queues: dict[str, dict[str, _Queue]] = {}
        self._buckets: dict[Any, _Bucket] = {}
        self._skill_buckets: dict[str, dict[Any, _Bucket]] = {}
        self._open_buckets: dict[Any, _Bucket] = {}
        self._open_queues: dict[str, _Queue] = {}
        self._skill_agents: dict[str, dict[str, _Agent]] = {}
        self._task_seq = 0
        self._agent_seq = 0
        self._offer_seq = 0
        self._day_timer: TimerHandle | None = None
        self._offer_lines: dict[float, _TimerLine] = {}  # offer timeout (s) → line
        self._wrap_lines: dict[float, _TimerLine] = {}  # wrap-up duration (s) → line

    # ----------------------------------------------------------------------------------
    # small helpers

    @property
    def clock(self) -> Clock:
        return self._clock

    def _agent(self, agent_id: str) -> _Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(f"unknown agent {agent_id!r}", agent_id=agent_id)
        return agent

    def _queue(self, queue_id: str) -> _Queue:
        queue = self._queues.get(queue_id)
        if queue is None:
            raise UnknownQueue(f"unknown queue {queue_id!r}", queue_id=queue_id)
        return queue

    def _policy(self, policy_id: str) -> RoutingPolicy:
        policy = self._policies.get(policy_id)
        if policy is None:
            raise UnknownPolicy(f"unknown routing policy {policy_id!r}", policy_id=policy_id)
        return policy

    def _task(self, task_id: str) -> _Task:
        task = self._tasks.get(task_id)
        if task is None:
            final = self._finished.get(task_id)
            if final is not None:
                raise TaskStateConflict(f"task {task_id!r} is already {final}", task_id=task_id, state=final)
            raise UnknownTask(f"unknown task {task_id!r}", task_id=task_id)
        return task

    def _counters(self, queue: _Queue, now: float) -> QueueCounters:
        c = queue.counters
        days = self._days
        if not (days.start <= now < days.end and c.day == days.key):
            c.roll(days.day_of(now))
        return c

    def _handled_today(self, agent: _Agent, now: float) -> int:
        return agent.handled_today if agent.handled_day == self._days.day_of(now) else 0

    def _arm_day_rollover(self) -> None:
        """Only fewest_calls indexes depend on the day (counters roll over lazily), so the
        midnight timer is armed while such a bucket exists."""
        if self._day_timer is None:
            when = self._days.next_day_start(self._clock.now())
            self._day_timer = self._clock.call_at(when, self._on_day_rollover)

    def _on_day_rollover(self) -> None:
        # "fewest calls today" keys reset at midnight: rebuild only those idle indexes
        self._day_timer = None
        found = False
        for bucket in self._buckets.values():
            if bucket.mode == FEWEST_CALLS:
                self._rebuild_idle(bucket)
                found = True
        if found:
            self._arm_day_rollover()

    # ----------------------------------------------------------------------------------
    # agent state

    def _derive_state(self, agent: _Agent) -> str:
        if agent.offer_task is not None:
            return RESERVED
        if agent.active:
            return BUSY
        if agent.wrap_up_until is not None:
            return WRAP_UP
        if agent.missed_until is not None:
            return MISSED
        return IDLE

    def _sync_state(self, agent: _Agent, now: float) -> None:
        state = self._derive_state(agent)
        if state != agent.state:
            previous = agent.state
            agent.state = state
            agent.state_since = now
            self._emit(AgentStateChanged(now, agent.id, state, previous))

    def _routable(self, agent: _Agent) -> bool:
        return (
            agent.status == AVAILABLE
            and agent.offer_task is None
            and agent.wrap_up_until is None
            and agent.missed_until is None
            and not agent.removed
        )

    def _idle_key(self, bucket: _Bucket, agent: _Agent) -> Any:
        mode = bucket.mode
        if mode in (LONGEST_IDLE, RING_ALL):
            return agent.idle_since
        if mode == BEST_SKILL:
            skills = agent.skills
            return (-sum(skills.get(s, 0) for s in bucket.score_skills), agent.idle_since)
        if mode == LEAST_OCCUPIED:
            return (len(agent.active) / agent.cap_total, agent.idle_since)
        if mode == FEWEST_CALLS:
            return (self._handled_today(agent, self._clock.now()), agent.idle_since)
        queue = bucket.scope
        assert queue is not None
        if mode == ROUND_ROBIN:  # least recently offered a task of this queue
            return agent.rr.get(queue.id, 0)
        # LINEAR: fixed order, unlisted agents after, in the order they were added
        return queue.linear_rank.get(agent.id, len(queue.linear_rank))

    def _rebuild_idle(self, bucket: _Bucket) -> None:
        bucket.clear_idle()
        channel = bucket.channel
        entries = [
            (self._idle_key(bucket, a), a.seq, a.version, a)
            for a in bucket.members.values()
            if self._routable(a) and a.free_on(channel)
        ]
        entries.sort()
        bucket.fifo = deque(entries)
        bucket.limit = 2 * len(bucket.members) + 32

    def _agent_ready(self, agent: _Agent, now: float) -> None:
        """The agent may be able to take work: take the best head task of its buckets (L2)
        or enter the idle index of each bucket whose channel has free capacity."""
        agent.version += 1
        if (
            agent.status != AVAILABLE
            or agent.offer_task is not None
            or agent.wrap_up_until is not None
            or agent.missed_until is not None
            or agent.removed
        ):
            return
        single = agent.single_channel
        if single is not None:
            if agent.load.get(single, 0) >= agent.capacity[single]:
                return
            buckets: Iterable[_Bucket] = agent.buckets
        else:
            free = {c for c, n in agent.capacity.items() if agent.load.get(c, 0) < n}
            if not free:
                return
            buckets = [b for b in agent.buckets if b.channel in free]
        best = None
        for bucket in buckets:
            head = bucket.head
            if head is not None and (best is None or head < best):
                best = head
        if best is not None:
            self._offer_one(best[3], agent, now)
            return
        version = agent.version
        seq = agent.seq
        idle_entry = (agent.idle_since, seq, version, agent)
        for bucket in buckets:
            entry = idle_entry if bucket.plain else (self._idle_key(bucket, agent), seq, version, agent)
            fifo = bucket.fifo
            if not fifo or entry >= fifo[-1]:
                fifo.append(entry)
                if len(fifo) > bucket.limit:  # stale entries piled up (heap: checked below)
                    bucket.compact()
            else:
                heap = bucket.heap
                _heappush(heap, entry)
                if len(fifo) + len(heap) > bucket.limit:
                    bucket.compact()

    # ----------------------------------------------------------------------------------
    # membership

    def _bucket_accepts(self, bucket: _Bucket, agent: _Agent) -> bool:
        return agent.capacity.get(bucket.channel, 0) > 0 and bucket.req.matches(agent.skills)

    def _add_member(self, bucket: _Bucket, agent: _Agent) -> None:
        bucket.members[agent.id] = agent
        agent.buckets[bucket] = None
        if agent.status == AVAILABLE:
            bucket.staffed += 1
        bucket.limit = 2 * len(bucket.members) + 32

    def _drop_member(self, bucket: _Bucket, agent: _Agent) -> None:
        del bucket.members[agent.id]
        agent.buckets.pop(bucket, None)
        if agent.status == AVAILABLE:
            bucket.staffed -= 1

    def _refresh_membership(self, queue: _Queue, agent: _Agent) -> None:
        """Make ``agent``'s membership of ``queue`` (its eligibility) match the rules."""
        if not agent.removed and queue.eligibility.matches(agent.skills):
            queue.members[agent.id] = agent
            agent.queues[queue.id] = queue
        else:
            queue.members.pop(agent.id, None)
            agent.queues.pop(queue.id, None)

    def _refresh_buckets(self, agent: _Agent) -> None:
        """Make ``agent``'s bucket memberships match its skills and capacity."""
        candidates: dict[Any, _Bucket] = dict(self._open_buckets)
        for skill in agent.skills:
            candidates.update(self._skill_buckets.get(skill, {}))
        for bucket in agent.buckets:
            if bucket.key[0] != "@":  # not a direct (transfer-to-agent) bucket
                candidates[bucket.key] = bucket
        for bucket in candidates.values():
            should = not agent.removed and self._bucket_accepts(bucket, agent)
            if should and agent.id not in bucket.members:
                self._add_member(bucket, agent)
            elif not should and agent.id in bucket.members:
                self._drop_member(bucket, agent)

    def _candidate_queues(self, agent: _Agent) -> dict[str, _Queue]:
        out = dict(self._open_queues)
        for skill in agent.skills:
            out.update(self._skill_queues.get(skill, {}))
        return out

    def _candidate_agents(self, queue: _Queue) -> dict[str, _Agent]:
        if queue.eligibility.matches_without_skills:
            return self._agents
        out: dict[str, _Agent] = {}
        for skill in queue.eligibility.skills:
            out.update(self._skill_agents.get(skill, {}))
        return out

    def _index_queue_skills(self, queue: _Queue, add: bool) -> None:
        elig = queue.eligibility
        if elig.matches_without_skills:
            if add:
                self._open_queues[queue.id] = queue
            else:
                self._open_queues.pop(queue.id, None)
            return
        for skill in elig.skills:
            if add:
                self._skill_queues.setdefault(skill, {})[queue.id] = queue
            else:
                by_skill = self._skill_queues.get(skill)
                if by_skill is not None:
                    by_skill.pop(queue.id, None)
                    if not by_skill:
                        del self._skill_queues[skill]

    def _index_agent_skills(self, agent: _Agent, skills: Iterable[str], add: bool) -> None:
        for skill in skills:
            if add:
                self._skill_agents.setdefault(skill, {})[agent.id] = agent
            else:
                by_skill = self._skill_agents.get(skill)
                if by_skill is not None:
                    by_skill.pop(agent.id, None)
                    if not by_skill:
                        del self._skill_agents[skill]

    def _bucket(self, queue: _Queue, req: Requirement, channel: str) -> _Bucket:
        """The bucket of tasks of ``queue`` with step requirements ``req`` on ``channel``."""
        bucket = queue.bucket_cache.get((req.canonical, channel))
        if bucket is not None:
            return bucket
        combined = rules.combine_requirements(queue.eligibility.canonical, req.canonical)
        mode = queue.config.mode
        scope = queue if mode in (ROUND_ROBIN, LINEAR) else None
        key = (combined.canonical, channel, mode, queue.id if scope is not None else "")
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(key, combined, channel, mode, scope)
            self._buckets[key] = bucket
            if mode == FEWEST_CALLS:
                self._arm_day_rollover()
            if combined.matches_without_skills:
                self._open_buckets[key] = bucket
                candidates: Iterable[_Agent] = list(self._agents.values())
            else:
                found: dict[str, _Agent] = {}
                for skill in combined.skills:
                    self._skill_buckets.setdefault(skill, {})[key] = bucket
                    found.update(self._skill_agents.get(skill, {}))
                candidates = found.values()
            for agent in candidates:
                if self._bucket_accepts(bucket, agent):
                    self._add_member(bucket, agent)
            self._rebuild_idle(bucket)
        bucket.refs += 1
        queue.bucket_cache[(req.canonical, channel)] = bucket
        if not req.canonical:
            queue.base_buckets[channel] = bucket
        return bucket

    def _release_bucket(self, bucket: _Bucket) -> None:
        """One reference fewer; forget the bucket when nothing refers to it or waits in it."""
        bucket.refs -= 1
        if bucket.refs > 0 or bucket.tasks or self._buckets.get(bucket.key) is not bucket:
            return
        del self._buckets[bucket.key]
        self._open_buckets.pop(bucket.key, None)
        for skill in bucket.req.skills:
            by_skill = self._skill_buckets.get(skill)
            if by_skill is not None:
                by_skill.pop(bucket.key, None)
                if not by_skill:
                    del self._skill_buckets[skill]
        for agent in list(bucket.members.values()):
            self._drop_member(bucket, agent)
        bucket.clear_idle()

    def _rebucket_queue(self, queue: _Queue) -> None:
        """After a change of eligibility or mode: the queue's tasks move to their new
        buckets (same order keys), old buckets are released."""
        old = list(queue.bucket_cache.values())
        queue.bucket_cache = {}
        queue.base_buckets = {}
        for task in sorted(queue.tasks.values(), key=lambda t: t.seq):
            if task.target_agent is not None:
                continue
            entry = task.entry
            if entry is not None:
                task.bucket.remove_task(entry)
            task.bucket = self._bucket(queue, task.req, task.channel)
            if entry is not None:
                task.bucket.add_task(entry)
        for bucket in old:
            self._release_bucket(bucket)

    def _direct_bucket(self, agent: _Agent, channel: str) -> _Bucket:
        bucket = agent.direct.get(channel)
        if bucket is None:
            bucket = _Bucket(("@", agent.id, channel), _NO_REQUIREMENT, channel, LONGEST_IDLE, None)
            agent.direct[channel] = bucket
            self._add_member(bucket, agent)
            self._rebuild_idle(bucket)
        return bucket

    def _rematch(self, bucket: _Bucket, now: float) -> None:
        """After a config change: pair waiting tasks of ``bucket`` with its idle agents."""
        while bucket.tasks:
            agent = bucket.pop_idle()
            if agent is None:
                return
            self._agent_ready(agent, now)

    # ----------------------------------------------------------------------------------
    # configuration

    def upsert_queue(self, config: QueueConfig) -> None:
        """Create or change a queue live. Waiting tasks and idle agents of this queue only
        are re-matched. Raises InvalidConfig / InvalidPolicy / InvalidExpression …"""
        if not isinstance(config, QueueConfig):
            raise InvalidArgument("upsert_queue takes a QueueConfig")
        others = {qid: q.config for qid, q in self._queues.items()}
        rules.validate_queue_config(config, others, self._catalogue)
        now = self._clock.now()
        queue = self._queues.get(config.id)
        if queue is not None and queue.config == config:
            return
        self._emit(QueueUpserted(now, config))
        if queue is None:
            queue = _Queue(config)
            self._queues[config.id] = queue
            self._index_queue_skills(queue, True)
            for agent in self._candidate_agents(queue).values():
                self._refresh_membership(queue, agent)
            return
        old = queue.config
        self._index_queue_skills(queue, False)
        queue.apply_config(config)
        self._index_queue_skills(queue, True)
        if old.eligibility != config.eligibility:
            affected = dict(queue.members)
            affected.update(self._candidate_agents(queue))
            for agent in affected.values():
                self._refresh_membership(queue, agent)
        if old.eligibility != config.eligibility or old.mode != config.mode or old.linear_order != config.linear_order:
            self._rebucket_queue(queue)
            for bucket in queue.bucket_cache.values():
                if bucket.scope is queue:  # queue-specific keys (linear order) may have changed
                    self._rebuild_idle(bucket)
        if old.exception_rules != config.exception_rules:
            for task in sorted(queue.tasks.values(), key=lambda t: t.seq):
                if task.state == WAITING:
                    self._arm_timers(task)
        for bucket in list(queue.bucket_cache.values()):
            self._rematch(bucket, now)

    def remove_queue(self, queue_id: str) -> None:
        """Remove an empty, unreferenced queue (raises InUse otherwise)."""
        queue = self._queue(queue_id)
        if queue.tasks or queue.assigned:
            raise InUse(
                f"queue {queue_id!r} still has tasks",
                queue_id=queue_id,
                tasks=len(queue.tasks) + queue.assigned,
            )
        for policy in self._policies.values():
            if any(step.queue_id == queue_id for step in policy.steps):
                raise InUse(
                    f"routing policy {policy.id!r} uses queue {queue_id!r}",
                    queue_id=queue_id,
                    policy_id=policy.id,
                )
        for other in self._queues.values():
            if other is not queue and any(r.target_queue_id == queue_id for r in other.config.exception_rules):
                raise InUse(f"queue {other.id!r} overflows into {queue_id!r}", queue_id=queue_id, referrer=other.id)
        now = self._clock.now()
        for bucket in queue.bucket_cache.values():
            self._release_bucket(bucket)
        queue.bucket_cache = {}
        queue.base_buckets = {}
        for agent in queue.members.values():
            agent.queues.pop(queue_id, None)
        self._index_queue_skills(queue, False)
        del self._queues[queue_id]
        self._emit(QueueRemoved(now, queue_id))

    def upsert_agent(self, config: AgentConfig) -> None:
        """Create an agent (status offline) or change its skills/capacity live."""
        if not isinstance(config, AgentConfig):
            raise InvalidArgument("upsert_agent takes an AgentConfig")
        rules.validate_agent_config(config, self._catalogue)
        now = self._clock.now()
        agent = self._agents.get(config.id)
        if agent is not None and agent.config == config:
            return
        self._emit(AgentUpserted(now, config))
        if agent is None:
            agent = _Agent(config, self._agent_seq, now)
            self._agent_seq += 1
            self._agents[agent.id] = agent
            self._index_agent_skills(agent, agent.skills, True)
            for queue in self._candidate_queues(agent).values():
                self._refresh_membership(queue, agent)
            self._refresh_buckets(agent)
            return
        old_skills = agent.skills
        affected = dict(agent.queues)
        self._index_agent_skills(agent, old_skills, False)
        agent.apply_config(config)
        self._index_agent_skills(agent, agent.skills, True)
        affected.update(self._candidate_queues(agent))
        for queue in affected.values():
            self._refresh_membership(queue, agent)
        self._refresh_buckets(agent)
        for channel, bucket in list(agent.direct.items()):
            if agent.capacity.get(channel, 0) <= 0 and agent.id in bucket.members and not bucket.tasks:
                self._drop_member(bucket, agent)
                del agent.direct[channel]
        self._agent_ready(agent, now)

    def remove_agent(self, agent_id: str) -> None:
        """Remove an agent. Refused (InUse) while it has assigned tasks or tasks waiting for
        it personally; a pending offer is withdrawn (the task keeps its place)."""
        agent = self._agent(agent_id)
        if agent.active:
            raise InUse(f"agent {agent_id!r} has assigned tasks", agent_id=agent_id, tasks=list(agent.active))
        offered = agent.offer_task
        if any(b.waiting for b in agent.direct.values()) or (offered is not None and offered.target_agent is agent):
            raise InUse(f"tasks are waiting for agent {agent_id!r} personally", agent_id=agent_id)
        now = self._clock.now()
        task = agent.offer_task
        agent.removed = True
        agent.version += 1
        if task is not None:
            self._withdraw_agent_offer(task, agent, "agent_removed", now)
        for timer in (agent.wrap_timer, agent.missed_timer):
            if timer is not None:
                timer.cancel()
        for bucket in list(agent.buckets):
            self._drop_member(bucket, agent)
        for queue in agent.queues.values():
            queue.members.pop(agent_id, None)
        agent.queues.clear()
        self._index_agent_skills(agent, agent.skills, False)
        del self._agents[agent_id]
        self._emit(AgentRemoved(now, agent_id))

    def upsert_policy(self, policy: RoutingPolicy) -> None:
        """Create or change a routing policy (validated: queues exist, no loops).

        Tasks already following the policy keep their step index (clamped to the new last
        step) and are moved/relaxed at once if that step now says something else."""
        if not isinstance(policy, RoutingPolicy):
            raise InvalidArgument("upsert_policy takes a RoutingPolicy")
        rules.validate_policy(policy, self._queues, self._policies, self._catalogue)
        old = self._policies.get(policy.id)
        if old == policy:
            return
        now = self._clock.now()
        self._policies[policy.id] = policy
        self._emit(PolicyUpserted(now, policy))
        tasks = self._policy_tasks.get(policy.id)
        if tasks:
            for task in sorted(tasks.values(), key=lambda t: t.seq):
                if task.state != WAITING or task.id not in self._tasks:
                    continue
                index = min(task.step, len(policy.steps) - 1)
                self._apply_step(task, policy, index, "policy_changed", now)
        if old is not None:
            self._forget_step_buckets({step.queue_id for step in old.steps})

    def remove_policy(self, policy_id: str) -> None:
        self._policy(policy_id)
        if self._policy_tasks.get(policy_id):
            raise InUse(f"tasks follow routing policy {policy_id!r}", policy_id=policy_id)
        for other in self._policies.values():
            if other.fallback_policy_id == policy_id:
                raise InUse(f"policy {other.id!r} falls back to {policy_id!r}", policy_id=policy_id)
        old = self._policies.pop(policy_id)
        self._policy_tasks.pop(policy_id, None)
        self._emit(PolicyRemoved(self._clock.now(), policy_id))
        self._forget_step_buckets({step.queue_id for step in old.steps})

    def _forget_step_buckets(self, queue_ids: set[str]) -> None:
        """After a policy change: release the step buckets of these queues that no policy
        step and no task of the queue uses any more (each bucket an agent belongs to costs
        it one idle-index entry per transition)."""
        for queue_id in sorted(queue_ids):
            queue = self._queues.get(queue_id)
            if queue is None:
                continue
            used = {
                step.requirements and rules.parse_requirement(step.requirements).canonical
                for policy in self._policies.values()
                for step in policy.steps
                if step.queue_id == queue_id
            }
            used |= {task.req.canonical for task in queue.tasks.values()}
            for key in [k for k in queue.bucket_cache if k[0] and k[0] not in used]:
                self._release_bucket(queue.bucket_cache.pop(key))

    # ----------------------------------------------------------------------------------
    # agent status

    def set_status(self, agent_id: str, status: str, reason: str | None = None, *, actor: str = "agent") -> None:
        """Set an agent's status (``offline``, ``available``, ``break`` + reason).

        See :data:`kefu.routing.rules.STATUS_TRANSITIONS`. Leaving ``available`` withdraws a
        pending offer (the task keeps its place; the agent is not counted as missing it).
        """
        agent = self._agent(agent_id)
        new_reason = rules.check_status_change(
            agent.status,
            status,
            actor,
            reason=reason,
            has_assigned_tasks=bool(agent.active),
            allowed_reasons=self.settings.break_reasons,
        )
        if status == agent.status and new_reason == agent.reason:
            return
        self._change_status(agent, status, new_reason, actor, self._clock.now())

    def _change_status(self, agent: _Agent, status: str, reason: str | None, actor: str, now: float) -> None:
        previous = agent.status
        agent.status = status
        agent.reason = reason
        agent.version += 1
        if (previous == AVAILABLE) != (status == AVAILABLE):
            delta = 1 if status == AVAILABLE else -1
            for bucket in agent.buckets:
                bucket.staffed += delta
        if status == AVAILABLE and previous != AVAILABLE:
            agent.idle_since = now
            agent.misses = 0
        self._emit(AgentStatusChanged(now, agent.id, status, reason, previous, actor))
        if status != AVAILABLE and agent.offer_task is not None:
            self._withdraw_agent_offer(agent.offer_task, agent, "agent_unavailable", now)
        if status == AVAILABLE:
            self._agent_ready(agent, now)

    def end_wrap_up(self, agent_id: str) -> bool:
        """End the agent's wrap-up now; False (no change) if it is not in wrap-up."""
        agent = self._agent(agent_id)
        if agent.wrap_up_until is None:
            return False
        self._end_wrap(agent, self._clock.now(), early=True)
        return True

    def _end_wrap(self, agent: _Agent, now: float, *, early: bool) -> None:
        if agent.wrap_timer is not None:
            agent.wrap_timer.cancel()
            agent.wrap_timer = None
        agent.wrap_up_until = None
        agent.idle_since = now
        self._emit(WrapUpEnded(now, agent.id, early))
        self._sync_state(agent, now)
        self._agent_ready(agent, now)

    def _arm_wrap_end(self, agent: _Agent, until: float, seconds: float | None) -> None:
        line = self._wrap_lines.get(seconds) if seconds is not None else None
        if line is None and seconds is not None:
            line = self._wrap_lines[seconds] = _TimerLine(self._clock, self._on_wrap_end, _wrap_live)
        if line is None or not line.add(until, agent, until):
            agent.wrap_timer = self._clock.call_at(until, self._on_wrap_end, agent, until)

    def _on_wrap_end(self, agent: _Agent, until: float) -> None:
        if agent.removed or agent.wrap_up_until != until:
            return
        self._end_wrap(agent, self._clock.now(), early=False)

    def _on_missed_clear(self, agent: _Agent, until: float) -> None:
        if agent.removed or agent.missed_until != until:
            return
        now = self._clock.now()
        agent.missed_until = None
        agent.missed_timer = None
        self._emit(AgentMissedCleared(now, agent.id))
        self._sync_state(agent, now)
        self._agent_ready(agent, now)

    def _extend_wrap(self, agent: _Agent, seconds: float, now: float) -> float | None:
        if seconds > 0:
            until = now + seconds
            if agent.wrap_up_until is None or until > agent.wrap_up_until:
                if agent.wrap_timer is not None:
                    agent.wrap_timer.cancel()
                    agent.wrap_timer = None
                agent.wrap_up_until = until
                self._arm_wrap_end(agent, until, seconds)
        return agent.wrap_up_until

    def _mark_missed(self, agent: _Agent, now: float) -> None:
        agent.offer_task = None
        agent.misses += 1
        agent.idle_since = now
        until = now + self.settings.missed_offer_delay_s
        if agent.missed_timer is not None:
            agent.missed_timer.cancel()
        agent.missed_until = until
        agent.missed_timer = self._clock.call_at(until, self._on_missed_clear, agent, until)
        agent.version += 1

    def _maybe_auto_pause(self, agent: _Agent, now: float) -> None:
        limit = self.settings.max_consecutive_misses
        if limit and agent.misses >= limit and agent.status == AVAILABLE:
            self._emit(AgentAutoPaused(now, agent.id, agent.misses))
            self._change_status(agent, BREAK, MISSED_OFFERS_REASON, ACTOR_SYSTEM, now)

    # ----------------------------------------------------------------------------------
    # tasks: entering queues

    def _is_open(self, queue: _Queue, now: float) -> bool:
        hours = queue.config.hours
        if hours is None and self._holidays is None:
            return True
        local = self._days.local(now)
        if self._holidays is not None and self._holidays(queue.id, local.date()):
            return False
        return hours is None or hours.is_open(local)

    def is_open(self, queue_id: str) -> bool:
        """Whether the queue is inside its opening hours now (and not on a holiday)."""
        return self._is_open(self._queue(queue_id), self._clock.now())

    def _entry_decision(
        self, queue: _Queue, bucket: _Bucket, now: float
    ) -> tuple[tuple[ExceptionRule, ...], RoutingError | None]:
        """Which entry rules fire for a task entering ``queue`` now, or why it may not enter."""
        if not queue.has_entry_checks and self._holidays is None:
            return (), None
        if not self._is_open(queue, now):
            if queue.closed_rule is None:
                return (), QueueClosed(f"queue {queue.id!r} is closed", queue_id=queue.id)
            return (queue.closed_rule,), None
        fired: list[ExceptionRule] = []
        length = len(queue.tasks)
        for rule in queue.entry_rules:
            if (rule.trigger == "queue_length" and length > rule.threshold) or (
                rule.trigger == "no_agents" and bucket.staffed == 0
            ):
                fired.append(rule)
                if rule.action == "overflow" or rule.action in ENDING_ACTIONS:
                    return tuple(fired), None
        max_length = queue.config.max_length
        if max_length is not None and length >= max_length:
            return (), QueueFull(f"queue {queue.id!r} is full", queue_id=queue.id, max_length=max_length)
        return tuple(fired), None

    def _step_target(self, policy: RoutingPolicy, index: int, base_priority: int) -> tuple[_Queue, Requirement, int]:
        step = policy.steps[index]
        priority = step.priority if step.priority is not None else base_priority
        return self._queues[step.queue_id], rules.parse_requirement(step.requirements), priority

    def submit_task(
        self,
        task_id: str,
        queue_id: str | None = None,
        *,
        policy_id: str | None = None,
        channel: str = "voice",
        priority: int = 0,
        kind: str = "call",
        attributes: dict[str, Any] | None = None,
        enqueued_at: float | None = None,
        time_adjustment: float = 0.0,
    ) -> str:
        """Submit a task to a queue or a routing policy (exactly one of them).

        ``enqueued_at`` (≤ now) keeps the place in line of an earlier contact — a callback
        created for a caller keeps the caller's original entry time. Returns the task's
        state right after submission (``waiting``, ``offered`` or ``cancelled`` when an
        exception rule ended it). Raises DuplicateTask, UnknownQueue, UnknownPolicy,
        QueueClosed, QueueFull, InvalidArgument.
        """
        now = self._clock.now()
        if task_id.__class__ is not str or not task_id or len(task_id) > 200:
            raise InvalidArgument("task id must be a non-empty string of at most 200 characters", task_id=task_id)
        tasks = self._tasks
        if task_id in tasks or task_id in self._finished:
            raise DuplicateTask(f"task {task_id!r} already exists", task_id=task_id)
        if (queue_id is None) == (policy_id is None):
            raise InvalidArgument("give exactly one of queue_id or policy_id", task_id=task_id)
        if (
            channel.__class__ is not str
            or kind.__class__ is not str
            or priority.__class__ is not int
            or time_adjustment.__class__ is not float
            or not channel
            or not kind
            or time_adjustment != 0.0
            or enqueued_at is not None
            or attributes is not None
        ):
            enqueued_at, time_adjustment = _check_task_args(
                now, channel, kind, priority, attributes, enqueued_at, time_adjustment
            )
        else:
            enqueued_at = now
        if policy_id is not None:
            policy = self._policy(policy_id)
            queue, req, effective = self._step_target(policy, 0, priority)
            bucket = self._bucket(queue, req, channel)
        else:
            found = self._queues.get(queue_id)  # type: ignore[arg-type]
            if found is None:
                raise UnknownQueue(f"unknown queue {queue_id!r}", queue_id=queue_id)
            queue = found
            req, effective = _NO_REQUIREMENT, priority
            bucket = queue.base_buckets.get(channel) or self._bucket(queue, req, channel)
        fired: tuple[ExceptionRule, ...] = ()
        if queue.has_entry_checks or self._holidays is not None:
            fired, blocked = self._entry_decision(queue, bucket, now)
            if blocked is not None:
                raise blocked

        task = _Task()
        task.id = task_id
        task.seq = seq = self._task_seq
        self._task_seq = seq + 1
        if kind != "call":
            task.kind = kind
        if channel != "voice":
            task.channel = channel
        attrs = _FROZEN_EMPTY
        if attributes:
            task.attributes = attrs = _freeze(attributes)
        if policy_id is not None:
            task.policy_id = policy_id
            task.req = req
        task.base_priority = priority
        task.priority = effective
        task.enqueued_at = enqueued_at
        if time_adjustment:
            task.time_adjustment = time_adjustment
        task.queue_entered_at = now
        task.step_started_at = now
        task.queue = queue
        task.bucket = bucket
        task.entry_no = 1
        tasks[task_id] = task
        if policy_id is not None:
            self._policy_tasks.setdefault(policy_id, {})[task_id] = task
        queue.tasks[task_id] = task
        entries = queue.entries
        if entries:  # keep the longest-wait index small (_trim_entries, inlined)
            popleft = entries.popleft
            while entries:
                _, entry_no, head = entries[0]
                state = head.state
                if state in (WAITING, OFFERED) and head.queue is queue and head.entry_no == entry_no:
                    break
                popleft()
        entries.append((now, 1, task))
        c = queue.counters
        days = self._days
        if not (days.start <= now < days.end and c.day == days.key):
            c.roll(days.day_of(now))
        c.offered += 1
        self._emit(
            _new(
                TaskQueued,
                (
                    now,
                    task_id,
                    seq,
                    kind,
                    channel,
                    queue.id,
                    policy_id,
                    0,
                    effective,
                    priority,
                    req.canonical,
                    enqueued_at,
                    time_adjustment,
                    attrs,
                ),
            )
        )
        if fired or policy_id is not None or queue.wait_rules or bucket.mode == RING_ALL:
            self._after_entry(task, fired, now, 0)
            return task.state
        # _route, inlined for the common case: the best idle agent of the bucket (L1)
        if bucket.heap:
            agent = bucket.pop_idle()
        else:  # only in-order entries: pop_idle without the heap
            agent = None
            fifo = bucket.fifo
            if fifo:
                pop_oldest = fifo.popleft
                while fifo:
                    idle = pop_oldest()
                    candidate = idle[3]
                    if idle[2] == candidate.version:
                        agent = candidate
                        break
        if agent is None:
            entry = (-effective, enqueued_at - time_adjustment, seq, task)
            task.entry = entry
            bucket.add_task(entry)
            return WAITING
        self._offer_one(task, agent, now)
        return OFFERED

    def _place(self, task: _Task, queue: _Queue, bucket: _Bucket, now: float) -> None:
        task.queue = queue
        task.bucket = bucket
        task.entry_no += 1
        if task.fired:
            task.fired = frozenset()
        queue.tasks[task.id] = task
        queue.entries.append((now, task.entry_no, task))
        self._trim_entries(queue)

    def _leave_queue(self, task: _Task) -> None:
        entry = task.entry
        if entry is not None:
            task.bucket.remove_task(entry)
            task.entry = None
        task.queue.tasks.pop(task.id, None)

    def _after_entry(self, task: _Task, fired: Iterable[ExceptionRule], now: float, hops: int) -> None:
        for rule in fired:
            if self._fire_rule(task, rule, now, hops):
                return
        self._arm_timers(task)
        self._route(task, now)

    def _fire_rule(self, task: _Task, rule: ExceptionRule, now: float, hops: int) -> bool:
        """Apply an exception rule; True when the task left the queue (moved or ended)."""
        task.fired = task.fired | {rule.id}
        self._emit(
            ExceptionTriggered(
                now,
                task.id,
                task.queue.id,
                rule.id,
                rule.trigger,
                rule.action,
                rule.target_queue_id,
                rule.message,
            )
        )
        if rule.action == "overflow":
            target = self._queues.get(rule.target_queue_id or "")
            if target is None:
                return False
            return self._move(task, target, _NO_REQUIREMENT, None, 0, task.priority, f"exception:{rule.id}", now, hops)
        if rule.action in ENDING_ACTIONS:
            self._cancel_waiting(task, rule.action, now)
            return True
        return False

    def _move(
        self,
        task: _Task,
        queue: _Queue,
        req: Requirement,
        policy_id: str | None,
        step: int,
        priority: int,
        reason: str,
        now: float,
        hops: int,
    ) -> bool:
        """Overflow a waiting task to another queue; False (nothing changed) if it can't enter."""
        if hops >= self.settings.max_overflow_hops:
            return False
        bucket = self._bucket(queue, req, task.channel)
        fired, blocked = self._entry_decision(queue, bucket, now)
        if blocked is not None:
            return False
        source = task.queue
        self._leave_queue(task)
        self._cancel_timers(task)
        self._set_policy(task, policy_id)
        task.step = step
        task.step_no += 1
        task.priority = priority
        task.req = req
        task.queue_entered_at = now
        task.step_started_at = now
        self._place(task, queue, bucket, now)
        self._counters(source, now).overflowed_out += 1
        self._counters(queue, now).offered += 1
        self._emit(TaskOverflowed(now, task.id, source.id, queue.id, policy_id, step, priority, req.canonical, reason))
        self._after_entry(task, fired, now, hops + 1)
        return True

    def _set_policy(self, task: _Task, policy_id: str | None) -> None:
        if task.policy_id == policy_id:
            return
        if task.policy_id is not None:
            tasks = self._policy_tasks.get(task.policy_id)
            if tasks is not None:
                tasks.pop(task.id, None)
        task.policy_id = policy_id
        if policy_id is not None:
            self._policy_tasks.setdefault(policy_id, {})[task.id] = task

    def _apply_step(self, task: _Task, policy: RoutingPolicy, index: int, reason: str, now: float) -> bool:
        """Put a waiting task on step ``index`` of ``policy``; False if its queue refused it."""
        queue, req, priority = self._step_target(policy, index, task.base_priority)
        if queue is task.queue:
            if req != task.req or priority != task.priority or index != task.step or policy.id != task.policy_id:
                self._relax(task, policy.id, index, req, priority, now)
            else:
                self._arm_timers(task)  # same step, maybe a new expiry: re-arm from its start
            return True
        return self._move(task, queue, req, policy.id, index, priority, reason, now, 0)

    def _relax(self, task: _Task, policy_id: str, index: int, req: Requirement, priority: int, now: float) -> None:
        entry = task.entry
        if entry is not None:
            task.bucket.remove_task(entry)
            task.entry = None
        self._set_policy(task, policy_id)
        task.step = index
        task.step_no += 1
        task.req = req
        task.priority = priority
        task.bucket = self._bucket(task.queue, req, task.channel)
        task.step_started_at = now
        self._emit(TaskRequirementsRelaxed(now, task.id, task.queue.id, policy_id, index, priority, req.canonical))
        self._arm_timers(task)
        self._route(task, now)

    # ----------------------------------------------------------------------------------
    # timers of waiting tasks

    def _cancel_timers(self, task: _Task) -> None:
        timers = task.timers
        if timers:
            for timer in timers:
                timer.cancel()
        task.timers = None

    def _arm_timers(self, task: _Task) -> None:
        """(Re)arm the step-expiry and wait-rule timers from the task's recorded times."""
        self._cancel_timers(task)
        timers: list[TimerHandle] = []
        if task.policy_id is not None:
            policy = self._policies.get(task.policy_id)
            if policy is not None and task.step < len(policy.steps):
                expires = policy.steps[task.step].expires_after_s
                if expires is not None:
                    when = task.step_started_at + expires
                    timers.append(self._clock.call_at(when, self._on_step_expiry, task, task.step_no))
        for rule in task.queue.wait_rules:
            if rule.id not in task.fired:
                when = task.queue_entered_at + rule.threshold
                timers.append(self._clock.call_at(when, self._on_wait_rule, task, rule, task.entry_no))
        task.timers = timers or None

    def _on_step_expiry(self, task: _Task, step_no: int) -> None:
        if task.step_no != step_no or task.id not in self._tasks or task.state == ASSIGNED:
            return
        if task.state == OFFERED:
            task.deferred = True
            return
        now = self._clock.now()
        policy = self._policies.get(task.policy_id or "")
        if policy is None:
            return
        for candidate, index in self._following_steps(policy, task.step):
            if self._apply_step(task, candidate, index, "step_expired", now):
                return

    def _following_steps(self, policy: RoutingPolicy, index: int) -> Iterator[tuple[RoutingPolicy, int]]:
        seen = {policy.id}
        current: RoutingPolicy | None = policy
        start = index + 1
        while current is not None:
            for i in range(start, len(current.steps)):
                yield current, i
            nxt = current.fallback_policy_id
            if nxt is None or nxt in seen:
                return
            seen.add(nxt)
            current = self._policies.get(nxt)
            start = 0

    def _on_wait_rule(self, task: _Task, rule: ExceptionRule, entry_no: int) -> None:
        if task.entry_no != entry_no or task.id not in self._tasks or task.state == ASSIGNED:
            return
        if rule.id in task.fired:
            return
        if task.state == OFFERED:
            task.deferred = True
            return
        self._fire_rule(task, rule, self._clock.now(), 0)

    # ----------------------------------------------------------------------------------
    # matching and offers

    def _route(self, task: _Task, now: float) -> None:
        """L1: a waiting task takes the best idle agent of its bucket, or waits in line."""
        bucket = task.bucket
        if bucket.mode == RING_ALL:
            agents = bucket.pop_all_idle()
            if agents:
                self._offer(task, agents, now)
                return
        else:
            agent = bucket.pop_idle()
            if agent is not None:
                self._offer(task, [agent], now)
                return
        entry = (-task.priority, task.enqueued_at - task.time_adjustment, task.seq, task)
        task.entry = entry
        bucket.add_task(entry)

    def _offer_one(self, task: _Task, agent: _Agent, now: float) -> None:
        """Offer ``task`` to one agent: :meth:`_offer` for the usual single-agent case."""
        token, offer_seq, expires = self._start_offer(task, now)
        queue_id = task.queue.id
        task.offer_agents = (agent,)
        agent.version += 1
        agent.offer_task = task
        agent.rr[queue_id] = offer_seq
        agent_id = agent.id
        task.round_ids = ids = (agent_id,)
        emit = self._emit
        emit(_new(TaskOffered, (now, task.id, token, queue_id, ids, expires, offer_seq)))
        previous = agent.state
        if previous != RESERVED:
            agent.state = RESERVED
            agent.state_since = now
            emit(_new(AgentStateChanged, (now, agent_id, RESERVED, previous)))

    def _start_offer(self, task: _Task, now: float) -> tuple[int, int, float]:
        """Take the task out of its bucket, fence a new offer and arm its timeout; (token, offer_seq, expires)."""
        entry = task.entry
        if entry is not None:
            task.bucket.remove_task(entry)
            task.entry = None
        task.token = token = task.token + 1
        task.state = OFFERED
        self._offer_seq = offer_seq = self._offer_seq + 1
        queue = task.queue
        line = queue.offer_line
        if line is None:
            line = self._offer_line(queue)
        expires = now + line.seconds
        task.offer_expires_at = expires
        entries = line.entries
        if line.handle is not None and entries and expires >= entries[-1][0]:
            entries.append((expires, task, token))  # the common case of line.add, inlined
        elif not line.add(expires, task, token):
            task.offer_timer = self._clock.call_at(expires, self._on_offer_timeout, task, token)
        return token, offer_seq, expires

    def _offer_line(self, queue: _Queue) -> _TimerLine:
        """The timer line of the queue's offer timeout (shared by queues with the same one)."""
        timeout = queue.config.offer_timeout_s
        line = self._offer_lines.get(timeout)
        if line is None:
            line = self._offer_lines[timeout] = _TimerLine(self._clock, self._on_offer_timeout, _offer_live)
            line.seconds = timeout
        queue.offer_line = line
        return line

    def _offer(self, task: _Task, agents: list[_Agent], now: float) -> None:
        if len(agents) == 1:
            self._offer_one(task, agents[0], now)
            return
        token, offer_seq, expires = self._start_offer(task, now)
        queue_id = task.queue.id
        emit = self._emit
        ids: tuple[str, ...]
        task.offer_agents = tuple(agents)
        for agent in agents:
            agent.version += 1
            agent.offer_task = task
            agent.rr[queue_id] = offer_seq
        task.round_ids = ids = tuple([a.id for a in agents])
        emit(_new(TaskOffered, (now, task.id, token, queue_id, ids, expires, offer_seq)))
        for agent in agents:
            if agent.state != RESERVED:
                previous = agent.state
                agent.state = RESERVED
                agent.state_since = now
                emit(_new(AgentStateChanged, (now, agent.id, RESERVED, previous)))

    def _check_offer(self, task_id: str, agent_id: str, token: int) -> tuple[_Task | None, _Agent]:
        """Validate (task, agent, token); ``(None, agent)`` means "already accepted by it"."""
        if isinstance(token, bool) or not isinstance(token, int):
            raise InvalidArgument("token must be an integer", token=token)
        task = self._tasks.get(task_id)
        if task is None:
            if task_id in self._finished:
                raise OfferExpired(
                    f"task {task_id!r} is already {self._finished[task_id]}", task_id=task_id, token=token
                )
            raise UnknownTask(f"unknown task {task_id!r}", task_id=task_id)
        agent = self._agent(agent_id)
        if task.state == ASSIGNED and task.agent is agent and token == task.token:
            return None, agent
        if token > task.token or token < 1:
            raise OfferNotFound(
                f"no offer of task {task_id!r} with token {token}",
                task_id=task_id,
                agent_id=agent_id,
                token=token,
            )
        if token < task.token or task.state != OFFERED:
            raise OfferExpired(
                f"the offer of task {task_id!r} with token {token} is no longer valid",
                task_id=task_id,
                agent_id=agent_id,
                token=token,
            )
        if agent not in task.offer_agents:
            if agent_id in task.round_ids:
                raise OfferExpired(
                    f"agent {agent_id!r} already answered this offer",
                    task_id=task_id,
                    agent_id=agent_id,
                    token=token,
                )
            raise OfferNotFound(
                f"task {task_id!r} was not offered to agent {agent_id!r}", task_id=task_id, agent_id=agent_id
            )
        return task, agent

    def accept(self, task_id: str, agent_id: str, token: int) -> None:
        """The agent accepts the offer: the task is assigned to it.

        Raises OfferExpired (timed out, withdrawn, answered elsewhere, stale token),
        OfferNotFound, UnknownTask, UnknownAgent. Accepting again an offer already accepted
        by the same agent with the same token is a no-op."""
        task = self._tasks.get(task_id)
        agent = self._agents.get(agent_id)
        if (
            task is None
            or agent is None
            or agent.offer_task is not task  # ⇔ agent not among the task's current offer
            or token != task.token
            or token.__class__ is not int
        ):
            task, agent = self._check_offer(task_id, agent_id, token)  # raises, or a no-op
            if task is None:
                return
        now = self._clock.now()
        timer = task.offer_timer
        if timer is not None:
            timer.cancel()
            task.offer_timer = None
        offered = task.offer_agents
        others = [a for a in offered if a is not agent] if len(offered) > 1 else None
        queue = task.queue
        channel = task.channel
        task.state = ASSIGNED
        task.agent = agent
        task.assigned_at = now
        task.offer_agents = ()
        task.offer_expires_at = None
        if task.fired:
            task.fired = frozenset()
        if task.timers:
            self._cancel_timers(task)
        del queue.tasks[task_id]
        queue.assigned += 1
        agent.offer_task = None
        agent.active[task_id] = channel
        load = agent.load
        load[channel] = load.get(channel, 0) + 1
        agent.misses = 0
        agent.idle_since = now
        waited = now - task.queue_entered_at
        within = waited <= queue.config.sl_threshold_s
        c = queue.counters
        days = self._days
        if not (days.start <= now < days.end and c.day == days.key):
            c.roll(days.day_of(now))
        c.answered += 1
        c.answer_wait_s_total += waited
        if within:
            c.answered_in_sl += 1
        self._emit(_new(TaskAssigned, (now, task_id, token, agent_id, queue.id, waited, within)))
        if agent.state != BUSY:
            previous = agent.state
            agent.state = BUSY
            agent.state_since = now
            self._emit(_new(AgentStateChanged, (now, agent.id, BUSY, previous)))
        if others:
            for other in others:
                other.offer_task = None
            self._emit(OfferWithdrawn(now, task.id, token, tuple(a.id for a in others), "accepted_elsewhere"))
            for other in others:
                self._sync_state(other, now)
            for other in others:
                self._agent_ready(agent=other, now=now)
        if agent.single_channel != channel or load[channel] < agent.capacity[channel]:
            self._agent_ready(agent, now)
        # else: full on its only channel — nothing to offer, and its idle entries were
        # already invalidated when the offer was made

    def accept_offer(self, offer_id: str, agent_id: str) -> None:
        """Accept by offer id (``"{task_id}#{token}"``, as in ``TaskOffered.offer_id``)."""
        task_id, sep, token = offer_id.rpartition("#") if isinstance(offer_id, str) else ("", "", "")
        if not sep or not token.isdigit():
            raise OfferNotFound(f"malformed offer id {offer_id!r}", offer_id=offer_id)
        self.accept(task_id, agent_id, int(token))

    def reject(self, task_id: str, agent_id: str, token: int) -> None:
        """The agent declines the offer: it counts as a miss; the task goes back to its
        old place in line (for ring_all: once every agent declined or the offer timed out)."""
        task, agent = self._check_offer(task_id, agent_id, token)
        if task is None:
            raise TaskStateConflict(f"task {task_id!r} was already accepted by {agent_id!r}", task_id=task_id)
        now = self._clock.now()
        task.offer_agents = tuple([a for a in task.offer_agents if a is not agent])
        self._mark_missed(agent, now)
        self._emit(OfferRejected(now, task.id, token, agent.id, agent.misses, agent.missed_until or now))
        self._sync_state(agent, now)
        self._maybe_auto_pause(agent, now)
        if not task.offer_agents:
            self._requeue(task, now)

    def _on_offer_timeout(self, task: _Task, token: int) -> None:
        if task.token != token or task.state != OFFERED or task.id not in self._tasks:
            return
        now = self._clock.now()
        agents = list(task.offer_agents)
        task.offer_timer = None
        task.offer_agents = ()
        for agent in agents:
            self._mark_missed(agent, now)
        self._emit(
            OfferTimedOut(
                now,
                task.id,
                token,
                tuple(a.id for a in agents),
                tuple(a.misses for a in agents),
                now + self.settings.missed_offer_delay_s,
            )
        )
        for agent in agents:
            self._sync_state(agent, now)
            self._maybe_auto_pause(agent, now)
        self._requeue(task, now)

    def _requeue(self, task: _Task, now: float) -> None:
        """Put an offered task back at its old place in line and route it again."""
        if task.offer_timer is not None:
            task.offer_timer.cancel()
            task.offer_timer = None
        task.state = WAITING
        task.offer_agents = ()
        task.offer_expires_at = None
        if task.deferred:
            task.deferred = False
            if self._apply_overdue(task, now):
                return
        self._route(task, now)

    def _apply_overdue(self, task: _Task, now: float) -> bool:
        """Apply wait rules and a step expiry that came due while the task was ringing.
        True when that moved, re-routed or ended the task."""
        for rule in task.queue.wait_rules:
            due = rule.id not in task.fired and task.queue_entered_at + rule.threshold <= now
            if due and self._fire_rule(task, rule, now, 0):
                return True
        policy = self._policies.get(task.policy_id) if task.policy_id is not None else None
        if policy is not None and task.step < len(policy.steps):
            expires = policy.steps[task.step].expires_after_s
            if expires is not None and task.step_started_at + expires <= now:
                for candidate, index in self._following_steps(policy, task.step):
                    if self._apply_step(task, candidate, index, "step_expired", now):
                        return True
        return False

    def _withdraw_agent_offer(self, task: _Task, agent: _Agent, reason: str, now: float) -> None:
        agent.offer_task = None
        task.offer_agents = tuple([a for a in task.offer_agents if a is not agent])
        self._emit(OfferWithdrawn(now, task.id, task.token, (agent.id,), reason))
        self._sync_state(agent, now)
        if not task.offer_agents and task.state == OFFERED:
            self._requeue(task, now)

    def _withdraw_all(self, task: _Task, reason: str, now: float) -> list[_Agent]:
        agents = list(task.offer_agents)
        if task.offer_timer is not None:
            task.offer_timer.cancel()
            task.offer_timer = None
        task.offer_agents = ()
        task.offer_expires_at = None
        for agent in agents:
            agent.offer_task = None
            agent.version += 1
        if agents:
            self._emit(OfferWithdrawn(now, task.id, task.token, tuple(a.id for a in agents), reason))
        return agents

    # ----------------------------------------------------------------------------------
    # tasks: ending and moving

    def _finish(self, task: _Task, final: str) -> None:
        task.state = final
        if task.timers:
            self._cancel_timers(task)
        if task.offer_timer is not None:
            task.offer_timer.cancel()
            task.offer_timer = None
        del self._tasks[task.id]
        if task.policy_id is not None:
            tasks = self._policy_tasks.get(task.policy_id)
            if tasks is not None:
                tasks.pop(task.id, None)
        retention = self.settings.terminal_retention
        if retention:
            finished = self._finished
            finished[task.id] = final
            if len(finished) > retention:
                finished.popitem(last=False)

    def _release_agent(self, task: _Task, agent: _Agent) -> None:
        del agent.active[task.id]
        channel = task.channel
        agent.load[channel] -= 1
        task.queue.assigned -= 1

    def _count_handled(self, agent: _Agent, queue: _Queue, handle: float, now: float) -> None:
        days = self._days
        day = days.key if days.start <= now < days.end else days.day_of(now)
        if agent.handled_day != day:
            agent.handled_day = day
            agent.handled_today = 0
        agent.handled_today += 1
        c = queue.counters
        if c.day != day:
            c.roll(day)
        c.handled += 1
        c.handle_s_total += handle
        ema = queue.ema
        queue.ema = handle if ema is None else (3.0 * ema + handle) / 4.0  # rules.ema_update

    def complete(self, task_id: str, agent_id: str | None = None, *, wrap_up: bool = True) -> None:
        """The assigned agent finished the task. The agent then wraps up for the queue's
        ``wrap_up_s`` (``wrap_up=False`` skips it). Raises TaskStateConflict if the task is
        not assigned, TaskNotAssignedToAgent if ``agent_id`` is someone else."""
        task = self._tasks.get(task_id)
        if task is None:
            task = self._task(task_id)  # raises
        if task.state != ASSIGNED:
            raise TaskStateConflict(f"task {task_id!r} is {task.state}, not assigned", task_id=task_id)
        agent = task.agent
        assert agent is not None
        if agent_id is not None and agent_id != agent.id:
            self._agent(agent_id)
            raise TaskNotAssignedToAgent(
                f"task {task_id!r} is assigned to another agent", task_id=task_id, agent_id=agent_id
            )
        now = self._clock.now()
        queue = task.queue
        handle = now - (task.assigned_at or now)
        del agent.active[task_id]
        agent.load[task.channel] -= 1
        queue.assigned -= 1
        wrap = queue.config.wrap_up_s
        until = self._extend_wrap(agent, wrap, now) if wrap_up and wrap > 0 else agent.wrap_up_until
        if until is None:
            agent.idle_since = now
        # _count_handled and _finish, inlined (hot path)
        days = self._days
        day = days.key if days.start <= now < days.end else days.day_of(now)
        if agent.handled_day != day:
            agent.handled_day = day
            agent.handled_today = 0
        agent.handled_today += 1
        c = queue.counters
        if c.day != day:
            c.roll(day)
        c.handled += 1
        c.handle_s_total += handle
        ema = queue.ema
        queue.ema = handle if ema is None else (3.0 * ema + handle) / 4.0  # rules.ema_update
        task.state = COMPLETED
        if task.timers:
            self._cancel_timers(task)
        del self._tasks[task_id]
        if task.policy_id is not None:
            by_policy = self._policy_tasks.get(task.policy_id)
            if by_policy is not None:
                by_policy.pop(task_id, None)
        retention = self.settings.terminal_retention
        if retention:
            finished = self._finished
            finished[task_id] = COMPLETED
            if len(finished) > retention:
                finished.popitem(last=False)
        self._emit(_new(TaskCompleted, (now, task_id, agent.id, queue.id, handle, until)))
        if agent.offer_task is not None:
            state = RESERVED
        elif agent.active:
            state = BUSY
        elif until is not None:
            state = WRAP_UP
        elif agent.missed_until is not None:
            state = MISSED
        else:
            state = IDLE
        if state != agent.state:
            previous = agent.state
            agent.state = state
            agent.state_since = now
            self._emit(_new(AgentStateChanged, (now, agent.id, state, previous)))
        self._agent_ready(agent, now)

    def abandon(self, task_id: str) -> None:
        """The caller hung up while waiting or while the task was offered."""
        task = self._task(task_id)
        if task.state not in (WAITING, OFFERED):
            raise TaskStateConflict(
                f"task {task_id!r} is {task.state}; only waiting or offered tasks can be abandoned",
                task_id=task_id,
            )
        now = self._clock.now()
        freed = self._withdraw_all(task, "abandoned", now)
        queue = task.queue
        waited = now - task.queue_entered_at
        short = waited <= self.settings.short_abandon_s
        self._leave_queue(task)
        self._finish(task, ABANDONED)
        c = self._counters(queue, now)
        c.abandoned += 1
        if short:
            c.abandoned_short += 1
        self._emit(TaskAbandoned(now, task.id, queue.id, waited, short))
        self._free_agents(freed, now)

    def _free_agents(self, agents: list[_Agent], now: float) -> None:
        for agent in agents:
            self._sync_state(agent, now)
        for agent in agents:
            self._agent_ready(agent, now)

    def _cancel_waiting(self, task: _Task, reason: str, now: float) -> None:
        freed = self._withdraw_all(task, "cancelled", now)
        queue = task.queue
        self._leave_queue(task)
        self._finish(task, CANCELLED)
        self._counters(queue, now).cancelled += 1
        self._emit(TaskCancelled(now, task.id, queue.id, reason, None))
        self._free_agents(freed, now)

    def cancel(self, task_id: str, reason: str = "cancelled") -> None:
        """Cancel a task in any live state. An assigned task frees its agent without wrap-up."""
        task = self._task(task_id)
        if not isinstance(reason, str) or not reason or len(reason) > 64:
            raise InvalidArgument("reason must be a non-empty string of at most 64 characters")
        now = self._clock.now()
        if task.state != ASSIGNED:
            self._cancel_waiting(task, reason, now)
            return
        agent = task.agent
        assert agent is not None
        queue = task.queue
        self._release_agent(task, agent)
        if agent.wrap_up_until is None:
            agent.idle_since = now
        self._finish(task, CANCELLED)
        self._counters(queue, now).cancelled += 1
        self._emit(TaskCancelled(now, task.id, queue.id, reason, agent.id))
        self._sync_state(agent, now)
        self._agent_ready(agent, now)

    def transfer(
        self,
        task_id: str,
        *,
        queue_id: str | None = None,
        agent_id: str | None = None,
        keep_place: bool = False,
        priority: int | None = None,
        wrap_up: bool = True,
    ) -> None:
        """Move a task to another queue or to one named agent (exactly one).

        An assigned task leaves its agent (who wraps up unless ``wrap_up=False``); a waiting
        or offered task moves (offers withdrawn). The task drops its routing policy. It
        enters the target with ``enqueued_at = now`` unless ``keep_place``. A transfer to
        an agent waits for that agent only (any skills), who must be logged in and have
        capacity on the task's channel. Raises QueueClosed / QueueFull as on submission.
        """
        task = self._task(task_id)
        if (queue_id is None) == (agent_id is None):
            raise InvalidArgument("give exactly one of queue_id or agent_id")
        if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
            raise InvalidArgument("priority must be an integer")
        now = self._clock.now()
        target_agent: _Agent | None = None
        fired: tuple[ExceptionRule, ...] = ()
        if queue_id is not None:
            queue = self._queue(queue_id)
            bucket = self._bucket(queue, _NO_REQUIREMENT, task.channel)
            if queue is not task.queue or task.state == ASSIGNED:
                fired, blocked = self._entry_decision(queue, bucket, now)
                if blocked is not None:
                    raise blocked
        else:
            assert agent_id is not None
            target_agent = self._agent(agent_id)
            if target_agent is task.agent:
                raise InvalidArgument("the task is already assigned to this agent", agent_id=agent_id)
            if target_agent.status == OFFLINE:
                raise InvalidArgument(f"agent {agent_id!r} is offline", agent_id=agent_id)
            if target_agent.capacity.get(task.channel, 0) <= 0:
                raise InvalidArgument(
                    f"agent {agent_id!r} has no capacity on channel {task.channel!r}", agent_id=agent_id
                )
            queue = task.queue
            bucket = self._direct_bucket(target_agent, task.channel)
        source = task.queue
        from_agent = task.agent
        freed: list[_Agent] = []
        handle: float | None = None
        until: float | None = None
        if task.state == ASSIGNED:
            assert from_agent is not None
            handle = now - (task.assigned_at or now)
            self._release_agent(task, from_agent)
            until = self._extend_wrap(from_agent, source.config.wrap_up_s if wrap_up else 0.0, now)
            if until is None:
                from_agent.idle_since = now
            self._count_handled(from_agent, source, handle, now)
            freed.append(from_agent)
        else:
            freed = self._withdraw_all(task, "transferred", now)
            self._leave_queue(task)
            from_agent = None
        self._cancel_timers(task)
        if task.offer_timer is not None:
            task.offer_timer.cancel()
            task.offer_timer = None
        new_priority = task.base_priority if priority is None else priority
        task.state = WAITING
        task.agent = None
        task.assigned_at = None
        task.offer_agents = ()
        task.offer_expires_at = None
        task.deferred = False
        self._set_policy(task, None)
        task.step = 0
        task.step_no += 1
        task.priority = task.base_priority = new_priority
        task.req = _NO_REQUIREMENT
        task.target_agent = target_agent
        if not keep_place:
            task.enqueued_at = now
        task.queue_entered_at = now
        task.step_started_at = now
        self._place(task, queue, bucket, now)
        self._counters(queue, now).offered += 1
        self._emit(
            TaskTransferred(
                now,
                task.id,
                source.id,
                from_agent.id if from_agent is not None else None,
                handle,
                until,
                queue.id,
                target_agent.id if target_agent is not None else None,
                new_priority,
                task.enqueued_at,
            )
        )
        for agent in freed:
            self._sync_state(agent, now)
        self._after_entry(task, fired, now, 0)
        for agent in freed:
            self._agent_ready(agent, now)

    def update_task(self, task_id: str, *, priority: int | None = None, time_adjustment: float | None = None) -> None:
        """Change a live task's own priority and/or time adjustment (its place follows).

        A policy step with an explicit priority keeps overriding the task's own priority."""
        task = self._task(task_id)
        if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
            raise InvalidArgument("priority must be an integer")
        if time_adjustment is not None and (
            isinstance(time_adjustment, bool)
            or not isinstance(time_adjustment, int | float)
            or not math.isfinite(time_adjustment)
        ):
            raise InvalidArgument("time_adjustment must be a finite number of seconds")
        now = self._clock.now()
        base = task.base_priority if priority is None else priority
        effective = base
        if task.policy_id is not None:
            policy = self._policies.get(task.policy_id)
            if policy is not None and policy.steps[task.step].priority is not None:
                effective = task.priority
        adjustment = task.time_adjustment if time_adjustment is None else float(time_adjustment)
        entry = task.entry
        if entry is not None:
            task.bucket.remove_task(entry)
            task.entry = None
        task.base_priority = base
        task.priority = effective
        task.time_adjustment = adjustment
        self._emit(TaskUpdated(now, task.id, effective, base, adjustment))
        if task.state == WAITING:
            self._route(task, now)

    # ----------------------------------------------------------------------------------
    # reads

    def has_queue(self, queue_id: str) -> bool:
        return queue_id in self._queues

    def has_policy(self, policy_id: str) -> bool:
        return policy_id in self._policies

    def has_agent(self, agent_id: str) -> bool:
        return agent_id in self._agents

    def snapshot_agent_queues(self, agent_id: str) -> list[str]:
        """The queues an agent serves (its eligibility as of now)."""
        return sorted(self._agent(agent_id).queues)

    def queue_ids(self) -> list[str]:
        return sorted(self._queues)

    def agent_ids(self) -> list[str]:
        return sorted(self._agents)

    def has_task(self, task_id: str) -> bool:
        return task_id in self._tasks

    def task_state(self, task_id: str) -> str:
        """``waiting``, ``offered``, ``assigned`` or, for a recently finished task, its end state."""
        task = self._tasks.get(task_id)
        if task is not None:
            return task.state
        final = self._finished.get(task_id)
        if final is None:
            raise UnknownTask(f"unknown task {task_id!r}", task_id=task_id)
        return final

    def queue_tasks(self, queue_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """The queue's tasks (waiting, offered, assigned) in routing order, at most ``limit`` (a read)."""
        queue = self._queue(queue_id)
        return [self._task_dict(t) for t in heapq.nsmallest(limit, queue.tasks.values(), key=_Task.order_key)]

    def task_info(self, task_id: str) -> dict[str, Any]:
        """The task as JSON-able data; for a recently finished task only its id and state."""
        task = self._tasks.get(task_id)
        if task is None:
            final = self._finished.get(task_id)
            if final is None:
                raise UnknownTask(f"unknown task {task_id!r}", task_id=task_id)
            return {"id": task_id, "state": final}
        return self._task_dict(task)

    def estimated_wait(self, task_id: str) -> float | None:
        """EWT in seconds for a waiting/offered task; ``None`` when unknown (no handle-time
        history, or no eligible agent logged in). Raises TaskStateConflict if assigned."""
        task = self._task(task_id)
        if task.state == ASSIGNED:
            raise TaskStateConflict(f"task {task_id!r} is already assigned", task_id=task_id)
        bucket = task.bucket
        position = bucket.tasks.bisect_left(task.entry) if task.entry is not None else 0
        return rules.estimate_wait(position, self._occupation_s(task.queue), bucket.staffed)

    def queue_ewt(self, queue_id: str, channel: str = "voice") -> float | None:
        """EWT for a task that would join the queue now (behind everyone waiting)."""
        queue = self._queue(queue_id)
        bucket = queue.bucket_cache.get(("", channel))
        if bucket is not None:
            return rules.estimate_wait(len(bucket.tasks), self._occupation_s(queue), bucket.staffed)
        # no task of this channel yet: count logged-in members without creating a bucket
        staffed = sum(1 for a in queue.members.values() if a.status == AVAILABLE and a.capacity.get(channel, 0) > 0)
        return rules.estimate_wait(0, self._occupation_s(queue), staffed)

    def _occupation_s(self, queue: _Queue) -> float | None:
        return None if queue.ema is None else queue.ema + queue.config.wrap_up_s

    def _trim_entries(self, queue: _Queue) -> None:
        """Drop entries of tasks no longer waiting in ``queue`` from the head of its
        longest-wait index (amortised O(1) per task)."""
        entries = queue.entries
        while entries:
            _, entry_no, task = entries[0]
            if task.queue is queue and task.entry_no == entry_no and task.state in (WAITING, OFFERED):
                return
            entries.popleft()

    def _longest_wait(self, queue: _Queue, now: float) -> float | None:
        entries = queue.entries
        while entries:
            entered, entry_no, task = entries[0]
            live = task.queue is queue and task.entry_no == entry_no and task.id in self._tasks
            if live and task.state in (WAITING, OFFERED):
                return now - entered
            entries.popleft()
        return None

    def queue_stats(self, queue_id: str) -> QueueStats:
        """Waiting, longest wait, EWT, agents by state/status (a pass over the queue's
        members) and today's counters of one queue."""
        queue = self._queue(queue_id)
        now = self._clock.now()
        by_status = dict.fromkeys(rules.AGENT_STATUSES, 0)
        by_state = dict.fromkeys(rules.AGENT_STATES, 0)
        for agent in queue.members.values():
            by_status[agent.status] += 1
            by_state[agent.state] += 1
        c = queue.counters
        if c.day != self._days.day_of(now):
            c = QueueCounters(day=self._days.day_of(now))
        return QueueStats(
            queue_id=queue_id,
            waiting=len(queue.tasks),
            longest_wait_s=self._longest_wait(queue, now),
            ewt_s=self.queue_ewt(queue_id),
            staffed=by_status[AVAILABLE],
            agents_by_status=by_status,
            agents_by_state=by_state,
            offered=c.offered,
            answered=c.answered,
            answered_in_sl=c.answered_in_sl,
            abandoned=c.abandoned,
            abandoned_short=c.abandoned_short,
            handled=c.handled,
            overflowed_out=c.overflowed_out,
            cancelled=c.cancelled,
            average_handle_s=c.handle_s_total / c.handled if c.handled else None,
            average_answer_s=c.answer_wait_s_total / c.answered if c.answered else None,
            service_level=c.answered_in_sl / c.offered if c.offered else None,
        )

    def agent_stats(self, agent_id: str) -> AgentStats:
        agent = self._agent(agent_id)
        now = self._clock.now()
        return AgentStats(
            agent_id=agent.id,
            status=agent.status,
            break_reason=agent.reason,
            state=agent.state,
            time_in_state_s=now - agent.state_since,
            handled_today=self._handled_today(agent, now),
            active_tasks=tuple(agent.active),
            offered_task=agent.offer_task.id if agent.offer_task is not None else None,
            misses=agent.misses,
        )

    def _task_dict(self, task: _Task) -> dict[str, Any]:
        return {
            "id": task.id,
            "seq": task.seq,
            "kind": task.kind,
            "channel": task.channel,
            "state": task.state,
            "queue_id": task.queue.id,
            "policy_id": task.policy_id,
            "step": task.step,
            "priority": task.priority,
            "base_priority": task.base_priority,
            "requirements": task.req.canonical,
            "target_agent_id": task.target_agent.id if task.target_agent is not None else None,
            "enqueued_at": task.enqueued_at,
            "time_adjustment": task.time_adjustment,
            "queue_entered_at": task.queue_entered_at,
            "step_started_at": task.step_started_at,
            "token": task.token,
            "offer_agents": [a.id for a in task.offer_agents],
            "offer_expires_at": task.offer_expires_at,
            "agent_id": task.agent.id if task.agent is not None else None,
            "assigned_at": task.assigned_at,
            "attributes": dict(task.attributes),
        }

    def snapshot(self) -> dict[str, Any]:
        """The whole router as JSON-able data (debugging, wallboards). Tasks of each queue
        are listed in routing order."""
        now = self._clock.now()
        agents = []
        for agent in sorted(self._agents.values(), key=lambda a: a.id):
            agents.append(
                {
                    "id": agent.id,
                    "skills": dict(sorted(agent.skills.items())),
                    "capacity": dict(sorted(agent.capacity.items())),
                    "status": agent.status,
                    "break_reason": agent.reason,
                    "state": agent.state,
                    "state_since": agent.state_since,
                    "idle_since": agent.idle_since,
                    "misses": agent.misses,
                    "wrap_up_until": agent.wrap_up_until,
                    "missed_until": agent.missed_until,
                    "handled_today": self._handled_today(agent, now),
                    "active_tasks": sorted(agent.active),
                    "offered_task": agent.offer_task.id if agent.offer_task is not None else None,
                    "queues": sorted(agent.queues),
                }
            )
        queues = []
        for queue in sorted(self._queues.values(), key=lambda q: q.id):
            ordered = sorted(queue.tasks.values(), key=_Task.order_key)
            stats = self.queue_stats(queue.id).to_dict()
            queues.append(
                {
                    "config": queue.config.to_dict(),
                    "tasks": [t.id for t in ordered],
                    "members": sorted(queue.members),
                    "average_handle_ema_s": queue.ema,
                    "stats": stats,
                }
            )
        tasks = [self._task_dict(t) for t in sorted(self._tasks.values(), key=lambda t: t.seq)]
        policies = [p.to_dict() for p in sorted(self._policies.values(), key=lambda p: p.id)]
        return {"at": now, "agents": agents, "queues": queues, "tasks": tasks, "policies": policies}

    def state(self) -> RouterState:
        """The router's state as plain data — equal to ``fold()`` of its events."""
        st = RouterState()
        st.queues = {qid: q.config for qid, q in self._queues.items()}
        st.policies = dict(self._policies)
        for agent in self._agents.values():
            st.agents[agent.id] = AgentRecord(
                id=agent.id,
                seq=agent.seq,
                skills=dict(agent.skills),
                capacity=dict(agent.capacity),
                name=agent.config.name,
                status=agent.status,
                break_reason=agent.reason,
                state=agent.state,
                state_since=agent.state_since,
                idle_since=agent.idle_since,
                misses=agent.misses,
                wrap_up_until=agent.wrap_up_until,
                missed_until=agent.missed_until,
                handled_today=agent.handled_today,
                handled_day=agent.handled_day,
                active=dict(agent.active),
                offer_task_id=agent.offer_task.id if agent.offer_task is not None else None,
                rr=dict(agent.rr),
            )
        for task in self._tasks.values():
            st.tasks[task.id] = TaskRecord(
                id=task.id,
                seq=task.seq,
                kind=task.kind,
                channel=task.channel,
                queue_id=task.queue.id,
                policy_id=task.policy_id,
                step=task.step,
                priority=task.priority,
                base_priority=task.base_priority,
                requirements=task.req.canonical,
                enqueued_at=task.enqueued_at,
                time_adjustment=task.time_adjustment,
                queue_entered_at=task.queue_entered_at,
                step_started_at=task.step_started_at,
                attributes=dict(task.attributes),
                target_agent_id=task.target_agent.id if task.target_agent is not None else None,
                state=task.state,
                token=task.token,
                offer_agents=tuple(a.id for a in task.offer_agents),
                offer_expires_at=task.offer_expires_at,
                agent_id=task.agent.id if task.agent is not None else None,
                assigned_at=task.assigned_at,
                fired_rules=tuple(sorted(task.fired)),
            )
        for qid, queue in self._queues.items():
            if queue.counters.day is not None:
                c = queue.counters
                st.counters[qid] = QueueCounters(**{k: getattr(c, k) for k in c.__dataclass_fields__})
            if queue.ema is not None:
                st.handle_ema[qid] = queue.ema
        st.task_seq = self._task_seq
        st.agent_seq = self._agent_seq
        st.offer_seq = self._offer_seq
        st.finished = dict(self._finished)
        return st

    # ----------------------------------------------------------------------------------
    # recovery

    @classmethod
    def restore(
        cls,
        state: RouterState,
        clock: Clock,
        sink: Sink | None = None,
        *,
        settings: RouterSettings | None = None,
        holidays: HolidayCalendar | None = None,
        queues: Iterable[QueueConfig] | None = None,
        agents: Iterable[AgentConfig] | None = None,
        policies: Iterable[RoutingPolicy] | None = None,
    ) -> Router:
        """Build a router from a folded state (after a crash or a restart).

        The configuration comes from the state (the ``*.upserted`` events) unless
        ``queues`` / ``agents`` / ``policies`` are given: then those replace it (see
        :func:`kefu.routing.events.with_config`; no config events are emitted for that).

        Waiting tasks go back to their queues at their old places (same priority, entry
        time and sequence), agents get their statuses, states, wrap-ups and counters back,
        and timers (wrap-up ends, missed delays, policy-step expiries, exception-rule
        waits) are re-armed from the recorded times — past-due ones fire at once.
        Offers pending at the crash are treated as expired without blaming the agents:
        ``OfferWithdrawn(reason="restored")`` is emitted and the tasks are routed again
        with a new fencing token, so a late accept of the old offer gets OfferExpired.
        """
        if queues is not None or agents is not None or policies is not None:
            state = with_config(state, queues=queues, agents=agents, policies=policies)
        router = cls(clock, sink, settings=settings, holidays=holidays)
        now = clock.now()
        for config in state.queues.values():
            queue = _Queue(config)
            router._queues[config.id] = queue
            router._index_queue_skills(queue, True)
            counters = state.counters.get(config.id)
            if counters is not None:
                queue.counters = QueueCounters(**{k: getattr(counters, k) for k in counters.__dataclass_fields__})
            queue.ema = state.handle_ema.get(config.id)
        router._policies = dict(state.policies)
        for rec in sorted(state.agents.values(), key=lambda r: r.seq):
            agent = _Agent(rec.config, rec.seq, now)
            agent.status = rec.status
            agent.reason = rec.break_reason
            agent.state = rec.state
            agent.state_since = rec.state_since
            agent.idle_since = rec.idle_since
            agent.misses = rec.misses
            agent.wrap_up_until = rec.wrap_up_until
            agent.missed_until = rec.missed_until
            agent.handled_today = rec.handled_today
            agent.handled_day = rec.handled_day
            agent.rr = dict(rec.rr)
            router._agents[agent.id] = agent
            router._index_agent_skills(agent, agent.skills, True)
            for queue in router._candidate_queues(agent).values():
                router._refresh_membership(queue, agent)
        router._task_seq = state.task_seq
        router._agent_seq = state.agent_seq
        router._offer_seq = state.offer_seq
        retention = router.settings.terminal_retention
        if retention:
            for task_id, final in list(state.finished.items())[-retention:]:
                router._finished[task_id] = final

        tasks: list[_Task] = []
        for trec in sorted(state.tasks.values(), key=lambda r: r.seq):
            task = _Task()
            task.id = trec.id
            task.seq = trec.seq
            task.kind = trec.kind
            task.channel = trec.channel
            task.attributes = _freeze(trec.attributes)
            task.policy_id = None
            task.step = trec.step
            task.priority = trec.priority
            task.base_priority = trec.base_priority
            task.req = rules.parse_requirement(trec.requirements)
            task.enqueued_at = trec.enqueued_at
            task.time_adjustment = trec.time_adjustment
            task.queue_entered_at = trec.queue_entered_at
            task.step_started_at = trec.step_started_at
            task.token = trec.token
            task.state = trec.state
            task.round_ids = trec.offer_agents
            queue = router._queues[trec.queue_id]
            task.queue = queue
            router._tasks[task.id] = task
            router._set_policy(task, trec.policy_id)
            if trec.target_agent_id is not None:
                task.target_agent = router._agents[trec.target_agent_id]
                task.bucket = router._direct_bucket(task.target_agent, task.channel)
            else:
                task.bucket = router._bucket(queue, task.req, task.channel)
            task.fired = frozenset(trec.fired_rules)
            if trec.state == ASSIGNED:
                agent = router._agents[trec.agent_id or ""]
                task.agent = agent
                task.assigned_at = trec.assigned_at
                agent.active[task.id] = task.channel
                agent.load[task.channel] = agent.load.get(task.channel, 0) + 1
                queue.assigned += 1
            else:
                task.entry_no = 1
                queue.tasks[task.id] = task
            tasks.append(task)
        for queue in router._queues.values():
            waiting = sorted(queue.tasks.values(), key=lambda t: (t.queue_entered_at, t.seq))
            queue.entries = deque((t.queue_entered_at, t.entry_no, t) for t in waiting)
        # every waiting or (formerly) offered task goes back into its line at its old place
        pending: list[_Task] = []
        for task in tasks:
            if task.state == ASSIGNED:
                continue
            if task.state == OFFERED:
                pending.append(task)
            entry = (-task.priority, task.enqueued_at - task.time_adjustment, task.seq, task)
            task.entry = entry
            task.bucket.add_task(entry)
        # idle indexes (agents with a pending offer are not idle yet)
        offered_agents = {a for t in pending for a in t.round_ids}
        for bucket in router._all_buckets():
            router._rebuild_idle(bucket)
        # timers, in time order so that ties fire as they would have
        timers: list[tuple[float, int, int, Callable[..., Any], tuple[Any, ...]]] = []
        for agent in router._agents.values():
            if agent.wrap_up_until is not None:
                timers.append((agent.wrap_up_until, 0, agent.seq, router._on_wrap_end, (agent, agent.wrap_up_until)))
            if agent.missed_until is not None:
                timers.append((agent.missed_until, 1, agent.seq, router._on_missed_clear, (agent, agent.missed_until)))
        for task in tasks:
            if task.state == ASSIGNED:
                continue
            if task.policy_id is not None:
                policy = router._policies.get(task.policy_id)
                if policy is not None and task.step < len(policy.steps):
                    expires = policy.steps[task.step].expires_after_s
                    if expires is not None:
                        timers.append(
                            (
                                task.step_started_at + expires,
                                2,
                                task.seq,
                                router._on_step_expiry,
                                (task, task.step_no),
                            )
                        )
            for rule in task.queue.wait_rules:
                if rule.id not in task.fired:
                    timers.append(
                        (
                            task.queue_entered_at + rule.threshold,
                            3,
                            task.seq,
                            router._on_wait_rule,
                            (task, rule, 1),
                        )
                    )
        timers.sort(key=lambda t: (t[0], t[1], t[2]))
        for when, kind, _seq, callback, args in timers:
            handle = clock.call_at(when, callback, *args)
            if kind == 0:
                args[0].wrap_timer = handle
            elif kind == 1:
                args[0].missed_timer = handle
            else:
                task = args[0]
                task.timers = [*(task.timers or []), handle]
        # offers pending at the crash: expired, nobody blamed
        for task in pending:
            offered_to = [router._agents[a] for a in task.round_ids if a in router._agents]
            for agent in offered_to:
                agent.offer_task = None
            task.state = WAITING
            task.round_ids = ()
            router._emit(OfferWithdrawn(now, task.id, task.token, tuple(a.id for a in offered_to), "restored"))
        for agent in router._agents.values():
            router._sync_state(agent, now)
        # re-match: the freed agents first (each takes the best head of its own lines), then
        # the lines the pending tasks went back to, against whichever agents are idle there
        for agent in sorted((router._agents[a] for a in offered_agents if a in router._agents), key=_by_seq):
            router._agent_ready(agent, now)
        seen: set[int] = set()
        for task in pending:
            bucket = task.bucket
            if id(bucket) not in seen:
                seen.add(id(bucket))
                router._rematch(bucket, now)
        return router

    def _all_buckets(self) -> Iterator[_Bucket]:
        yield from self._buckets.values()
        for agent in self._agents.values():
            yield from agent.direct.values()


def _by_seq(agent: _Agent) -> int:
    return agent.seq


def _offer_live(task: _Task, token: int) -> bool:
    return task.token == token and task.state == OFFERED


def _wrap_live(agent: _Agent, until: float) -> bool:
    return agent.wrap_up_until == until and not agent.removed


def _check_task_args(
    now: float,
    channel: Any,
    kind: Any,
    priority: Any,
    attributes: Any,
    enqueued_at: Any,
    time_adjustment: Any,
) -> tuple[float, float]:
    """Full validation of submit_task's optional arguments; returns (enqueued_at, adjustment)."""
    if not isinstance(channel, str) or not channel:
        raise InvalidArgument("channel must be a non-empty string", channel=channel)
    if not isinstance(kind, str) or not kind:
        raise InvalidArgument("kind must be a non-empty string", kind=kind)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidArgument("priority must be an integer", priority=priority)
    if (
        isinstance(time_adjustment, bool)
        or not isinstance(time_adjustment, int | float)
        or not math.isfinite(time_adjustment)
    ):
        raise InvalidArgument("time_adjustment must be a finite number of seconds")
    if enqueued_at is None:
        enqueued_at = now
    elif (
        isinstance(enqueued_at, bool)
        or not isinstance(enqueued_at, int | float)
        or not math.isfinite(enqueued_at)
        or enqueued_at > now
    ):
        raise InvalidArgument("enqueued_at must be a time not after now", enqueued_at=enqueued_at)
    if attributes is not None and not isinstance(attributes, dict):
        raise InvalidArgument("attributes must be a dict")
    return float(enqueued_at), float(time_adjustment)
