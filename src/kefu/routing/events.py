"""Typed routing events, their JSON form, and the pure fold that rebuilds router state.

Every engine transition emits one or more events, in order, to the router's sink. Each
event is an immutable, slotted ``NamedTuple`` with ``at`` (POSIX seconds, float) first, a
stable ``type`` string (``"task.queued"`` …) and ``to_dict()`` / :func:`event_from_dict`
for JSON storage. Two events are equal only if they have the same type and fields.

:func:`fold` turns an event stream into a :class:`RouterState`; ``Router.restore(state)``
turns that back into a running router. ``fold`` is pure: it reads nothing but the events
(and the tenant timezone, which decides where "today" starts).

Catalogue (type string → meaning):

====================================  ===========================================================
``queue.upserted`` / ``queue.removed``   queue configuration created/changed or removed
``agent.upserted`` / ``agent.removed``   agent configuration (skills, capacity) created/changed/removed
``policy.upserted`` / ``policy.removed`` routing policy created/changed or removed
``task.queued``                          a task was submitted and entered its first queue
``task.offered``                         an offer (fencing ``token``) went to one agent, or several (ring_all)
``task.assigned``                        an agent accepted; the task is assigned to it
``offer.rejected``                       an agent rejected an offer (counts as a miss)
``offer.timed_out``                      nobody answered the offer in time (a miss for each agent)
``offer.withdrawn``                      an offer was withdrawn without blaming the agent(s)
``task.completed``                       the assigned agent finished the task (wrap-up may follow)
``task.abandoned``                       the caller hung up while waiting or ringing
``task.cancelled``                       the task was cancelled (or ended by a voicemail/cancel rule)
``task.transferred``                     the task moved to another queue or to a given agent
``task.overflowed``                      the task moved to another queue (policy step or exception rule)
``task.requirements_relaxed``            a policy step changed the task's requirements in the same queue
``task.updated``                         priority or time adjustment changed
``exception.triggered``                  an exception rule fired (telephony actions go to the call controller)
``agent.status_changed``                 offline / available / break (with reason)
``agent.state_changed``                  idle / reserved / busy / wrap_up / missed (derived, for wallboards)
``agent.auto_paused``                    K consecutive misses: the agent was put on break
``agent.wrap_up_ended``                  wrap-up ended (timer or early by the agent)
``agent.missed_cleared``                 the missed-offer delay ended
====================================  ===========================================================
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

from kefu.routing.rules import (
    ASSIGNED,
    AVAILABLE,
    IDLE,
    OFFERED,
    OFFLINE,
    WAITING,
    AgentConfig,
    DayCalendar,
    QueueConfig,
    RoutingPolicy,
    ema_update,
)

__all__ = [
    "EVENT_TYPES",
    "AgentAutoPaused",
    "AgentMissedCleared",
    "AgentRecord",
    "AgentRemoved",
    "AgentStateChanged",
    "AgentStatusChanged",
    "AgentUpserted",
    "Event",
    "ExceptionTriggered",
    "OfferRejected",
    "OfferTimedOut",
    "OfferWithdrawn",
    "PolicyRemoved",
    "PolicyUpserted",
    "QueueCounters",
    "QueueRemoved",
    "QueueUpserted",
    "RouterState",
    "TaskAbandoned",
    "TaskAssigned",
    "TaskCancelled",
    "TaskCompleted",
    "TaskOffered",
    "TaskOverflowed",
    "TaskQueued",
    "TaskRecord",
    "TaskRequirementsRelaxed",
    "TaskTransferred",
    "TaskUpdated",
    "WrapUpEnded",
    "event_from_dict",
    "fold",
    "with_config",
]


class Event(Protocol):
    """What every routing event offers (the concrete classes are NamedTuples).

    ``EventClass.from_dict(data)`` rebuilds one from its ``to_dict()`` form, as does the
    generic :func:`event_from_dict` (which reads the ``type`` key)."""

    type: str
    at: float

    def to_dict(self) -> dict[str, Any]: ...


#: type string → event class
EVENT_TYPES: dict[str, type] = {}

_FROZEN_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _freeze(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return _FROZEN_EMPTY if not mapping else MappingProxyType(dict(mapping))


def _encode(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _encode(v) for k, v in value.items()}
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if to_dict is not None else value


def _event_eq(self: tuple[Any, ...], other: object) -> bool:
    return type(self) is type(other) and tuple.__eq__(self, other)  # type: ignore[arg-type]


def _event_ne(self: tuple[Any, ...], other: object) -> bool:
    return not _event_eq(self, other)


def _event_hash(self: tuple[Any, ...]) -> int:
    return hash((type(self).__name__, tuple.__hash__(self)))


def _event_to_dict(self: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": self.type}
    for name in self._fields:
        out[name] = _encode(getattr(self, name))
    return out


_DECODERS: dict[type, dict[str, Callable[[Any], Any]]] = {}


def _event(type_name: str, **decoders: Callable[[Any], Any]) -> Callable[[type], type]:
    def register(cls: type) -> type:
        cls.type = type_name  # type: ignore[attr-defined]
        cls.__eq__ = _event_eq  # type: ignore[assignment,method-assign]
        cls.__ne__ = _event_ne  # type: ignore[assignment,method-assign]
        cls.__hash__ = _event_hash  # type: ignore[assignment,method-assign]
        cls.to_dict = _event_to_dict  # type: ignore[attr-defined]
        cls.from_dict = classmethod(_event_from_dict_cls)  # type: ignore[attr-defined]
        EVENT_TYPES[type_name] = cls
        _DECODERS[cls] = decoders
        return cls

    return register


def _tuple_of_str(value: Any) -> tuple[str, ...]:
    return tuple(value)


def _tuple_of_int(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in value)


def _event_from_dict_cls(cls: type, data: Mapping[str, Any]) -> Any:
    if data.get("type", cls.type) != cls.type:  # type: ignore[attr-defined]
        raise ValueError(f"{data.get('type')!r} is not a {cls.type!r} event")  # type: ignore[attr-defined]
    return event_from_dict({**data, "type": cls.type})  # type: ignore[attr-defined]


def event_from_dict(data: Mapping[str, Any]) -> Any:
    """Rebuild an event from its ``to_dict()`` form (raises KeyError/TypeError if malformed)."""
    cls = EVENT_TYPES[data["type"]]
    decoders = _DECODERS[cls]
    kwargs = {}
    for name in cls._fields:  # type: ignore[attr-defined]
        if name in data:
            value = data[name]
            decode = decoders.get(name)
            kwargs[name] = decode(value) if decode is not None and value is not None else value
    return cls(**kwargs)


# --------------------------------------------------------------------------------------
# configuration events


@_event("queue.upserted", queue=QueueConfig.from_dict)
class QueueUpserted(NamedTuple):
    at: float
    queue: QueueConfig


@_event("queue.removed")
class QueueRemoved(NamedTuple):
    at: float
    queue_id: str


@_event("agent.upserted", agent=AgentConfig.from_dict)
class AgentUpserted(NamedTuple):
    at: float
    agent: AgentConfig


@_event("agent.removed")
class AgentRemoved(NamedTuple):
    at: float
    agent_id: str


@_event("policy.upserted", policy=RoutingPolicy.from_dict)
class PolicyUpserted(NamedTuple):
    at: float
    policy: RoutingPolicy


@_event("policy.removed")
class PolicyRemoved(NamedTuple):
    at: float
    policy_id: str


# --------------------------------------------------------------------------------------
# task events


@_event("task.queued", attributes=_freeze)
class TaskQueued(NamedTuple):
    """A new task entered ``queue_id``. ``seq`` is the router's submission counter
    (the last tie-break of the queue order); ``requirements`` is the canonical expression
    of the current policy step (``""`` = only the queue's eligibility)."""

    at: float
    task_id: str
    seq: int
    kind: str
    channel: str
    queue_id: str
    policy_id: str | None
    step: int
    priority: int
    base_priority: int
    requirements: str
    enqueued_at: float
    time_adjustment: float
    attributes: Mapping[str, Any] = _FROZEN_EMPTY


@_event("task.offered", agent_ids=_tuple_of_str)
class TaskOffered(NamedTuple):
    """Offer number ``offer_seq`` of the router; ``token`` fences late accepts.
    ``offer_id`` is ``f"{task_id}#{token}"``."""

    at: float
    task_id: str
    token: int
    queue_id: str
    agent_ids: tuple[str, ...]
    expires_at: float
    offer_seq: int

    @property
    def offer_id(self) -> str:
        return f"{self.task_id}#{self.token}"


@_event("task.assigned")
class TaskAssigned(NamedTuple):
    """``waited_s`` is the wait in this queue; ``within_sl`` compares it to the queue's
    service-level threshold."""

    at: float
    task_id: str
    token: int
    agent_id: str
    queue_id: str
    waited_s: float
    within_sl: bool


@_event("offer.rejected")
class OfferRejected(NamedTuple):
    """``misses`` is the agent's consecutive-miss count after this one; the agent is in
    state missed until ``missed_until``."""

    at: float
    task_id: str
    token: int
    agent_id: str
    misses: int
    missed_until: float


@_event("offer.timed_out", agent_ids=_tuple_of_str, misses=_tuple_of_int)
class OfferTimedOut(NamedTuple):
    at: float
    task_id: str
    token: int
    agent_ids: tuple[str, ...]
    misses: tuple[int, ...]
    missed_until: float


@_event("offer.withdrawn", agent_ids=_tuple_of_str)
class OfferWithdrawn(NamedTuple):
    """``reason``: accepted_elsewhere, abandoned, cancelled, transferred,
    agent_unavailable, agent_removed, restored (pending at a crash)."""

    at: float
    task_id: str
    token: int
    agent_ids: tuple[str, ...]
    reason: str


@_event("task.completed")
class TaskCompleted(NamedTuple):
    """``wrap_up_until`` is the agent's wrap-up end after this completion (``None``: none)."""

    at: float
    task_id: str
    agent_id: str
    queue_id: str
    handle_s: float
    wrap_up_until: float | None


@_event("task.abandoned")
class TaskAbandoned(NamedTuple):
    """``short``: abandoned within the tenant's short-abandon threshold."""

    at: float
    task_id: str
    queue_id: str
    waited_s: float
    short: bool


@_event("task.cancelled")
class TaskCancelled(NamedTuple):
    """``agent_id`` is set when an assigned task was cancelled (the agent is freed)."""

    at: float
    task_id: str
    queue_id: str
    reason: str
    agent_id: str | None = None


@_event("task.transferred")
class TaskTransferred(NamedTuple):
    """The task left ``from_agent_id`` (if it was assigned; ``handle_s`` and
    ``wrap_up_until`` describe that agent's part) and now waits in ``queue_id``, for
    ``target_agent_id`` only when set. The policy is dropped (``step`` 0)."""

    at: float
    task_id: str
    from_queue_id: str
    from_agent_id: str | None
    handle_s: float | None
    wrap_up_until: float | None
    queue_id: str
    target_agent_id: str | None
    priority: int
    enqueued_at: float


@_event("task.overflowed")
class TaskOverflowed(NamedTuple):
    """``reason``: ``step_expired``, ``exception:<rule id>`` or ``policy_changed``."""

    at: float
    task_id: str
    from_queue_id: str
    queue_id: str
    policy_id: str | None
    step: int
    priority: int
    requirements: str
    reason: str


@_event("task.requirements_relaxed")
class TaskRequirementsRelaxed(NamedTuple):
    at: float
    task_id: str
    queue_id: str
    policy_id: str | None
    step: int
    priority: int
    requirements: str


@_event("task.updated")
class TaskUpdated(NamedTuple):
    at: float
    task_id: str
    priority: int
    base_priority: int
    time_adjustment: float


@_event("exception.triggered")
class ExceptionTriggered(NamedTuple):
    at: float
    task_id: str
    queue_id: str
    rule_id: str
    trigger: str
    action: str
    target_queue_id: str | None
    message: str


# --------------------------------------------------------------------------------------
# agent events


@_event("agent.status_changed")
class AgentStatusChanged(NamedTuple):
    at: float
    agent_id: str
    status: str
    reason: str | None
    previous: str
    actor: str


@_event("agent.state_changed")
class AgentStateChanged(NamedTuple):
    at: float
    agent_id: str
    state: str
    previous: str


@_event("agent.auto_paused")
class AgentAutoPaused(NamedTuple):
    at: float
    agent_id: str
    misses: int


@_event("agent.wrap_up_ended")
class WrapUpEnded(NamedTuple):
    at: float
    agent_id: str
    early: bool


@_event("agent.missed_cleared")
class AgentMissedCleared(NamedTuple):
    at: float
    agent_id: str


# --------------------------------------------------------------------------------------
# state


@dataclass
class AgentRecord:
    """Everything the router knows about an agent (config + status + system state)."""

    id: str
    seq: int
    skills: dict[str, int]
    capacity: dict[str, int]
    name: str = ""
    status: str = OFFLINE
    break_reason: str | None = None
    state: str = IDLE
    state_since: float = 0.0
    idle_since: float = 0.0
    misses: int = 0
    wrap_up_until: float | None = None
    missed_until: float | None = None
    handled_today: int = 0
    handled_day: str | None = None
    active: dict[str, str] = field(default_factory=dict)  # task id → channel
    offer_task_id: str | None = None
    rr: dict[str, int] = field(default_factory=dict)  # queue id → offer_seq of its last offer

    @property
    def config(self) -> AgentConfig:
        return AgentConfig(self.id, self.skills, self.capacity, self.name)


@dataclass
class TaskRecord:
    """A live (not finished) task."""

    id: str
    seq: int
    kind: str
    channel: str
    queue_id: str
    policy_id: str | None
    step: int
    priority: int
    base_priority: int
    requirements: str
    enqueued_at: float
    time_adjustment: float
    queue_entered_at: float
    step_started_at: float
    attributes: dict[str, Any] = field(default_factory=dict)
    target_agent_id: str | None = None
    state: str = WAITING
    token: int = 0
    offer_agents: tuple[str, ...] = ()
    offer_expires_at: float | None = None
    agent_id: str | None = None
    assigned_at: float | None = None
    fired_rules: tuple[str, ...] = ()


@dataclass
class QueueCounters:
    """Today's raw counts for a queue (ratios are computed on read)."""

    day: str | None = None
    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    abandoned_short: int = 0
    handled: int = 0
    handle_s_total: float = 0.0
    answer_wait_s_total: float = 0.0
    overflowed_out: int = 0
    cancelled: int = 0

    def roll(self, day: str) -> QueueCounters:
        if self.day != day:
            self.__init__(day=day)  # type: ignore[misc]
        return self


@dataclass
class RouterState:
    """The router's whole state as plain data: what ``fold`` builds and ``restore`` reads."""

    queues: dict[str, QueueConfig] = field(default_factory=dict)
    policies: dict[str, RoutingPolicy] = field(default_factory=dict)
    agents: dict[str, AgentRecord] = field(default_factory=dict)
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    counters: dict[str, QueueCounters] = field(default_factory=dict)
    handle_ema: dict[str, float] = field(default_factory=dict)
    task_seq: int = 0
    agent_seq: int = 0
    offer_seq: int = 0
    at: float | None = field(default=None, compare=False)  # time of the last folded event
    # recently finished task id → end state (bounded; for precise errors after a restart)
    finished: dict[str, str] = field(default_factory=dict, compare=False)


def with_config(
    state: RouterState,
    *,
    queues: Iterable[QueueConfig] | None = None,
    agents: Iterable[AgentConfig] | None = None,
    policies: Iterable[RoutingPolicy] | None = None,
) -> RouterState:
    """A copy of ``state`` whose configuration is replaced by the given one (for a
    persistence layer that keeps configuration in tables rather than in the event stream).

    Given ``agents`` update the skills/capacity of known agents, add new ones (offline)
    and drop agents not listed — unless they still hold or are offered tasks (kept, so no
    task is lost). Raises ValueError when a live task refers to a queue or routing policy
    that is no longer configured.
    """
    out = copy.deepcopy(state)
    if queues is not None:
        out.queues = {q.id: q for q in queues}
    if policies is not None:
        out.policies = {p.id: p for p in policies}
    if agents is not None:
        listed = {a.id: a for a in agents}
        for agent_id, rec in list(out.agents.items()):
            cfg = listed.get(agent_id)
            if cfg is not None:
                rec.skills, rec.capacity, rec.name = dict(cfg.skills), dict(cfg.capacity), cfg.name
            elif not rec.active and rec.offer_task_id is None:
                del out.agents[agent_id]
        for agent_id, cfg in listed.items():
            if agent_id not in out.agents:
                out.agents[agent_id] = AgentRecord(
                    id=agent_id,
                    seq=out.agent_seq,
                    skills=dict(cfg.skills),
                    capacity=dict(cfg.capacity),
                    name=cfg.name,
                    state_since=out.at or 0.0,
                    idle_since=out.at or 0.0,
                )
                out.agent_seq += 1
    for task in out.tasks.values():
        if task.queue_id not in out.queues:
            raise ValueError(f"task {task.id!r} is in queue {task.queue_id!r}, which is not configured")
        if task.policy_id is not None and task.policy_id not in out.policies:
            raise ValueError(f"task {task.id!r} follows policy {task.policy_id!r}, which is not configured")
        if task.target_agent_id is not None and task.target_agent_id not in out.agents:
            raise ValueError(f"task {task.id!r} waits for agent {task.target_agent_id!r}, which is not configured")
    return out


class _Folder:
    def __init__(self, state: RouterState, timezone: str, retention: int) -> None:
        self.s = state
        self.retention = retention
        self.days = DayCalendar(timezone)
        self.handlers: dict[type, Callable[[Any], None]] = {
            QueueUpserted: self.queue_upserted,
            QueueRemoved: self.queue_removed,
            AgentUpserted: self.agent_upserted,
            AgentRemoved: self.agent_removed,
            PolicyUpserted: self.policy_upserted,
            PolicyRemoved: self.policy_removed,
            TaskQueued: self.task_queued,
            TaskOffered: self.task_offered,
            TaskAssigned: self.task_assigned,
            OfferRejected: self.offer_rejected,
            OfferTimedOut: self.offer_timed_out,
            OfferWithdrawn: self.offer_withdrawn,
            TaskCompleted: self.task_completed,
            TaskAbandoned: self.task_abandoned,
            TaskCancelled: self.task_cancelled,
            TaskTransferred: self.task_transferred,
            TaskOverflowed: self.task_overflowed,
            TaskRequirementsRelaxed: self.task_relaxed,
            TaskUpdated: self.task_updated,
            ExceptionTriggered: self.exception_triggered,
            AgentStatusChanged: self.status_changed,
            AgentStateChanged: self.state_changed,
            AgentAutoPaused: self.ignore,
            WrapUpEnded: self.wrap_up_ended,
            AgentMissedCleared: self.missed_cleared,
        }

    def apply(self, ev: Any) -> None:
        self.handlers[type(ev)](ev)
        self.s.at = ev.at

    def counters(self, queue_id: str, at: float) -> QueueCounters:
        c = self.s.counters.get(queue_id)
        if c is None:
            c = self.s.counters[queue_id] = QueueCounters()
        return c.roll(self.days.day_of(at))

    def ignore(self, ev: Any) -> None:
        pass

    # config
    def queue_upserted(self, ev: QueueUpserted) -> None:
        self.s.queues[ev.queue.id] = ev.queue

    def queue_removed(self, ev: QueueRemoved) -> None:
        self.s.queues.pop(ev.queue_id, None)
        self.s.counters.pop(ev.queue_id, None)
        self.s.handle_ema.pop(ev.queue_id, None)

    def agent_upserted(self, ev: AgentUpserted) -> None:
        cfg = ev.agent
        rec = self.s.agents.get(cfg.id)
        if rec is None:
            self.s.agents[cfg.id] = AgentRecord(
                id=cfg.id,
                seq=self.s.agent_seq,
                skills=dict(cfg.skills),
                capacity=dict(cfg.capacity),
                name=cfg.name,
                state_since=ev.at,
                idle_since=ev.at,
            )
            self.s.agent_seq += 1
        else:
            rec.skills = dict(cfg.skills)
            rec.capacity = dict(cfg.capacity)
            rec.name = cfg.name

    def agent_removed(self, ev: AgentRemoved) -> None:
        self.s.agents.pop(ev.agent_id, None)

    def policy_upserted(self, ev: PolicyUpserted) -> None:
        self.s.policies[ev.policy.id] = ev.policy

    def policy_removed(self, ev: PolicyRemoved) -> None:
        self.s.policies.pop(ev.policy_id, None)

    # tasks
    def task_queued(self, ev: TaskQueued) -> None:
        self.s.tasks[ev.task_id] = TaskRecord(
            id=ev.task_id,
            seq=ev.seq,
            kind=ev.kind,
            channel=ev.channel,
            queue_id=ev.queue_id,
            policy_id=ev.policy_id,
            step=ev.step,
            priority=ev.priority,
            base_priority=ev.base_priority,
            requirements=ev.requirements,
            enqueued_at=ev.enqueued_at,
            time_adjustment=ev.time_adjustment,
            queue_entered_at=ev.at,
            step_started_at=ev.at,
            attributes=dict(ev.attributes),
        )
        self.s.task_seq = max(self.s.task_seq, ev.seq + 1)
        self.counters(ev.queue_id, ev.at).offered += 1

    def task_offered(self, ev: TaskOffered) -> None:
        t = self.s.tasks[ev.task_id]
        t.state = OFFERED
        t.token = ev.token
        t.offer_agents = tuple(ev.agent_ids)
        t.offer_expires_at = ev.expires_at
        for agent_id in ev.agent_ids:
            a = self.s.agents[agent_id]
            a.offer_task_id = ev.task_id
            a.rr[ev.queue_id] = ev.offer_seq
        self.s.offer_seq = ev.offer_seq

    def task_assigned(self, ev: TaskAssigned) -> None:
        t = self.s.tasks[ev.task_id]
        t.state = ASSIGNED
        t.agent_id = ev.agent_id
        t.assigned_at = ev.at
        t.offer_agents = ()
        t.offer_expires_at = None
        t.fired_rules = ()
        a = self.s.agents[ev.agent_id]
        a.offer_task_id = None
        a.active[ev.task_id] = t.channel
        a.misses = 0
        a.idle_since = ev.at
        c = self.counters(ev.queue_id, ev.at)
        c.answered += 1
        c.answer_wait_s_total += ev.waited_s
        if ev.within_sl:
            c.answered_in_sl += 1

    def _missed(self, agent_id: str, misses: int, until: float, at: float) -> None:
        a = self.s.agents[agent_id]
        a.offer_task_id = None
        a.misses = misses
        a.missed_until = until
        a.idle_since = at

    def _drop_offer_agents(self, task_id: str, agent_ids: Iterable[str]) -> None:
        t = self.s.tasks.get(task_id)
        if t is None:
            return
        gone = set(agent_ids)
        t.offer_agents = tuple(a for a in t.offer_agents if a not in gone)
        if not t.offer_agents and t.state == OFFERED:
            t.state = WAITING
            t.offer_expires_at = None

    def offer_rejected(self, ev: OfferRejected) -> None:
        self._missed(ev.agent_id, ev.misses, ev.missed_until, ev.at)
        self._drop_offer_agents(ev.task_id, (ev.agent_id,))

    def offer_timed_out(self, ev: OfferTimedOut) -> None:
        for agent_id, misses in zip(ev.agent_ids, ev.misses, strict=True):
            self._missed(agent_id, misses, ev.missed_until, ev.at)
        self._drop_offer_agents(ev.task_id, ev.agent_ids)

    def offer_withdrawn(self, ev: OfferWithdrawn) -> None:
        for agent_id in ev.agent_ids:
            a = self.s.agents.get(agent_id)
            if a is not None:
                a.offer_task_id = None
        self._drop_offer_agents(ev.task_id, ev.agent_ids)

    def _release(self, agent_id: str, task_id: str, wrap_up_until: float | None, at: float) -> AgentRecord:
        a = self.s.agents[agent_id]
        a.active.pop(task_id, None)
        a.wrap_up_until = wrap_up_until
        if wrap_up_until is None:
            a.idle_since = at
        return a

    def _handled(self, a: AgentRecord, queue_id: str, handle_s: float, at: float) -> None:
        day = self.days.day_of(at)
        if a.handled_day != day:
            a.handled_day = day
            a.handled_today = 0
        a.handled_today += 1
        c = self.counters(queue_id, at)
        c.handled += 1
        c.handle_s_total += handle_s
        self.s.handle_ema[queue_id] = ema_update(self.s.handle_ema.get(queue_id), handle_s)

    def _finished(self, task_id: str, final: str) -> None:
        self.s.tasks.pop(task_id, None)
        if self.retention:
            finished = self.s.finished
            finished.pop(task_id, None)
            finished[task_id] = final
            while len(finished) > self.retention:
                del finished[next(iter(finished))]

    def task_completed(self, ev: TaskCompleted) -> None:
        a = self._release(ev.agent_id, ev.task_id, ev.wrap_up_until, ev.at)
        self._handled(a, ev.queue_id, ev.handle_s, ev.at)
        self._finished(ev.task_id, "completed")

    def task_abandoned(self, ev: TaskAbandoned) -> None:
        self._finished(ev.task_id, "abandoned")
        c = self.counters(ev.queue_id, ev.at)
        c.abandoned += 1
        if ev.short:
            c.abandoned_short += 1

    def task_cancelled(self, ev: TaskCancelled) -> None:
        if ev.agent_id is not None:
            a = self.s.agents[ev.agent_id]
            self._release(ev.agent_id, ev.task_id, a.wrap_up_until, ev.at)
        self._finished(ev.task_id, "cancelled")
        self.counters(ev.queue_id, ev.at).cancelled += 1

    def task_transferred(self, ev: TaskTransferred) -> None:
        if ev.from_agent_id is not None:
            a = self._release(ev.from_agent_id, ev.task_id, ev.wrap_up_until, ev.at)
            self._handled(a, ev.from_queue_id, ev.handle_s or 0.0, ev.at)
        t = self.s.tasks[ev.task_id]
        t.queue_id = ev.queue_id
        t.policy_id = None
        t.step = 0
        t.priority = t.base_priority = ev.priority
        t.requirements = ""
        t.target_agent_id = ev.target_agent_id
        t.enqueued_at = ev.enqueued_at
        t.queue_entered_at = t.step_started_at = ev.at
        t.state = WAITING
        t.offer_agents = ()
        t.offer_expires_at = None
        t.agent_id = None
        t.assigned_at = None
        t.fired_rules = ()
        self.counters(ev.queue_id, ev.at).offered += 1

    def task_overflowed(self, ev: TaskOverflowed) -> None:
        t = self.s.tasks[ev.task_id]
        t.queue_id = ev.queue_id
        t.policy_id = ev.policy_id
        t.step = ev.step
        t.priority = ev.priority
        t.requirements = ev.requirements
        t.queue_entered_at = t.step_started_at = ev.at
        t.fired_rules = ()
        self.counters(ev.from_queue_id, ev.at).overflowed_out += 1
        self.counters(ev.queue_id, ev.at).offered += 1

    def task_relaxed(self, ev: TaskRequirementsRelaxed) -> None:
        t = self.s.tasks[ev.task_id]
        t.policy_id = ev.policy_id
        t.step = ev.step
        t.priority = ev.priority
        t.requirements = ev.requirements
        t.step_started_at = ev.at

    def task_updated(self, ev: TaskUpdated) -> None:
        t = self.s.tasks[ev.task_id]
        t.priority = ev.priority
        t.base_priority = ev.base_priority
        t.time_adjustment = ev.time_adjustment

    def exception_triggered(self, ev: ExceptionTriggered) -> None:
        t = self.s.tasks.get(ev.task_id)
        if t is not None:
            t.fired_rules = tuple(sorted({*t.fired_rules, ev.rule_id}))

    # agents
    def status_changed(self, ev: AgentStatusChanged) -> None:
        a = self.s.agents[ev.agent_id]
        a.status = ev.status
        a.break_reason = ev.reason
        if ev.status == AVAILABLE and ev.previous != AVAILABLE:
            a.idle_since = ev.at
            a.misses = 0

    def state_changed(self, ev: AgentStateChanged) -> None:
        a = self.s.agents[ev.agent_id]
        a.state = ev.state
        a.state_since = ev.at

    def wrap_up_ended(self, ev: WrapUpEnded) -> None:
        a = self.s.agents[ev.agent_id]
        a.wrap_up_until = None
        a.idle_since = ev.at

    def missed_cleared(self, ev: AgentMissedCleared) -> None:
        self.s.agents[ev.agent_id].missed_until = None


def fold(
    events: Iterable[Any],
    *,
    timezone: str = "UTC",
    initial: RouterState | None = None,
    retention: int = 10_000,
) -> RouterState:
    """Rebuild the router state from its event stream (optionally from a checkpoint).

    ``timezone`` must be the tenant's (``RouterSettings.timezone``): it decides where each
    day's counters start. ``retention`` bounds the remembered finished task ids
    (``RouterSettings.terminal_retention``). ``initial`` is not modified.
    """
    state = copy.deepcopy(initial) if initial is not None else RouterState()
    folder = _Folder(state, timezone, retention)
    for ev in events:
        folder.apply(ev)
    return state
