"""Pure routing rules: no I/O, no clock, no engine state.

* the names of statuses, states, distribution modes, exception triggers and actions;
* requirement expressions (``billing>=2 AND lang_zh>=3``): parsing, validation,
  canonical form and fast evaluation;
* the configuration types (:class:`QueueConfig`, :class:`AgentConfig`,
  :class:`RoutingPolicy`, :class:`ExceptionRule`, :class:`OpeningHours`,
  :class:`RouterSettings`) with their validation and JSON forms;
* routing-policy validation (missing queues, loops, dangling expiries) and the overflow
  graph check for exception rules;
* the agent-status transition table;
* the estimated-wait-time formula and the handle-time moving average.
"""

from __future__ import annotations

import math
import operator
import re
import zoneinfo
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from kefu.routing.errors import (
    InvalidArgument,
    InvalidConfig,
    InvalidExpression,
    InvalidLevel,
    InvalidPolicy,
    InvalidSkill,
    StatusChangeNotAllowed,
)

__all__ = [
    "ACTORS",
    "AGENT_STATES",
    "AGENT_STATUSES",
    "DISTRIBUTION_MODES",
    "EXCEPTION_ACTIONS",
    "EXCEPTION_TRIGGERS",
    "STATUS_TRANSITIONS",
    "AgentConfig",
    "DayCalendar",
    "ExceptionRule",
    "OpeningHours",
    "PolicyStep",
    "QueueConfig",
    "Requirement",
    "RouterSettings",
    "RoutingPolicy",
    "check_status_change",
    "combine_requirements",
    "ema_update",
    "estimate_wait",
    "parse_requirement",
    "task_order_key",
    "validate_agent_config",
    "validate_policy",
    "validate_queue_config",
    "validate_skill_name",
]

# --------------------------------------------------------------------------------------
# names

OFFLINE, AVAILABLE, BREAK = "offline", "available", "break"
AGENT_STATUSES = (OFFLINE, AVAILABLE, BREAK)

IDLE, RESERVED, BUSY, WRAP_UP, MISSED = "idle", "reserved", "busy", "wrap_up", "missed"
AGENT_STATES = (IDLE, RESERVED, BUSY, WRAP_UP, MISSED)

WAITING, OFFERED, ASSIGNED = "waiting", "offered", "assigned"
COMPLETED, ABANDONED, CANCELLED = "completed", "abandoned", "cancelled"
TASK_STATES = (WAITING, OFFERED, ASSIGNED, COMPLETED, ABANDONED, CANCELLED)

LONGEST_IDLE = "longest_idle"
ROUND_ROBIN = "round_robin"
BEST_SKILL = "best_skill"
LEAST_OCCUPIED = "least_occupied"
FEWEST_CALLS = "fewest_calls"
RING_ALL = "ring_all"
LINEAR = "linear"
DISTRIBUTION_MODES = (LONGEST_IDLE, ROUND_ROBIN, BEST_SKILL, LEAST_OCCUPIED, FEWEST_CALLS, RING_ALL, LINEAR)

#: trigger → meaning. ``queue_length``: on entry, more than ``threshold`` tasks already in
#: the queue; ``wait_time``: the task has waited more than ``threshold`` seconds in the
#: queue; ``closed``: on entry, the queue is outside its opening hours; ``no_agents``: on
#: entry, no eligible agent is logged in (status available).
EXCEPTION_TRIGGERS = ("queue_length", "wait_time", "closed", "no_agents")
ENTRY_TRIGGERS = frozenset({"queue_length", "closed", "no_agents"})
#: ``overflow`` moves the task (inside the engine); ``callback_offer`` and ``announce``
#: are told to the call controller and the task keeps waiting; ``voicemail`` and
#: ``cancel`` end the task (state cancelled, reason = the action).
EXCEPTION_ACTIONS = ("overflow", "callback_offer", "voicemail", "announce", "cancel")
ENDING_ACTIONS = frozenset({"voicemail", "cancel"})

ACTOR_AGENT, ACTOR_SUPERVISOR, ACTOR_SYSTEM = "agent", "supervisor", "system"
ACTORS = (ACTOR_AGENT, ACTOR_SUPERVISOR, ACTOR_SYSTEM)
MISSED_OFFERS_REASON = "missed_offers"

MIN_LEVEL, MAX_LEVEL = 1, 5

_SKILL_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.:]{0,63}\Z")
_ID_MAX = 200
_KEYWORDS = frozenset({"and", "or", "not"})


def _check_id(kind: str, value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > _ID_MAX or value != value.strip():
        raise InvalidArgument(f"{kind} id must be a non-empty string of at most {_ID_MAX} characters", value=value)
    return value


def _check_seconds(name: str, value: object, *, allow_none: bool = False, positive: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidConfig(f"{name} must be a finite number of seconds", field=name, value=value)
    if value < 0 or (positive and value == 0):
        raise InvalidConfig(f"{name} must be {'> 0' if positive else '>= 0'}", field=name, value=value)
    return float(value)


def validate_skill_name(name: object, catalogue: Container[str] | None = None) -> str:
    """Return ``name`` if it is a valid skill name (and in ``catalogue`` when given)."""
    if not isinstance(name, str) or not _SKILL_RE.match(name) or name.lower() in _KEYWORDS:
        raise InvalidSkill(
            "skill names start with a letter or '_' and hold letters, digits, '_', '.', ':' (max 64)",
            skill=name,
        )
    if catalogue is not None and name not in catalogue:
        raise InvalidSkill(f"unknown skill {name!r}", skill=name)
    return name


def _check_level(skill: str, level: object, lo: int = MIN_LEVEL) -> int:
    if isinstance(level, bool) or not isinstance(level, int) or not lo <= level <= MAX_LEVEL:
        raise InvalidLevel(f"skill level must be an integer {lo}–{MAX_LEVEL}", skill=skill, level=level)
    return level


# --------------------------------------------------------------------------------------
# requirement expressions

_TOKEN_RE = re.compile(
    r"\s*(?:(?P<op>>=|<=|==|!=|=|>|<)|(?P<lp>\()|(?P<rp>\))|(?P<num>-?\d+)|(?P<star>\*)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.:]*)|(?P<bad>\S))"
)
_OPS: dict[str, Callable[[int, int], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}

Node = tuple[Any, ...]
SkillMap = Mapping[str, int]


@dataclass(frozen=True, slots=True, eq=False)
class Requirement:
    """A parsed requirement expression.

    ``canonical`` is a normal form (operands of AND/OR sorted, ``x`` written ``x>=1``) so
    that equivalent spellings share one matching bucket; ``""`` means "no requirement".
    ``matches(skills)`` evaluates it against an agent's ``{skill: level}`` (a missing skill
    has level 0). ``skills`` are the skill names it mentions; ``matches_without_skills``
    tells whether an agent with no skills at all satisfies it.
    """

    canonical: str
    skills: frozenset[str]
    matches: Callable[[SkillMap], bool]
    matches_without_skills: bool

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Requirement) and other.canonical == self.canonical

    def __hash__(self) -> int:
        return hash(self.canonical)


class _Parser:
    def __init__(self, text: str, catalogue: Container[str] | None) -> None:
        self.text = text
        self.catalogue = catalogue
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if m is None or m.end() == pos:  # only trailing whitespace left
                break
            pos = m.end()
            kind = m.lastgroup
            assert kind is not None
            value = m.group(kind)
            if kind == "bad":
                raise InvalidExpression(f"unexpected character {value!r} in requirement", expression=text)
            if kind == "word" and value.lower() in _KEYWORDS:
                kind, value = value.lower(), value.lower()
            self.tokens.append((kind, value))
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def take(self, kind: str) -> str:
        if self.peek() != kind:
            got = self.tokens[self.i][1] if self.i < len(self.tokens) else "end of expression"
            raise InvalidExpression(f"expected {kind} but found {got!r}", expression=self.text)
        value = self.tokens[self.i][1]
        self.i += 1
        return value

    def parse(self) -> Node:
        if not self.tokens:
            return ("true",)
        node = self.parse_or()
        if self.i != len(self.tokens):
            raise InvalidExpression(f"unexpected {self.tokens[self.i][1]!r}", expression=self.text)
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.peek() == "or":
            self.i += 1
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else ("or", tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_not()]
        while self.peek() == "and":
            self.i += 1
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else ("and", tuple(items))

    def parse_not(self) -> Node:
        if self.peek() == "not":
            self.i += 1
            return ("not", self.parse_not())
        return self.parse_atom()

    def parse_atom(self) -> Node:
        kind = self.peek()
        if kind == "lp":
            self.i += 1
            node = self.parse_or()
            self.take("rp")
            return node
        if kind == "star":
            self.i += 1
            return ("true",)
        skill = validate_skill_name(self.take("word"), self.catalogue)
        if self.peek() == "op":
            op = self.take("op")
            op = "==" if op == "=" else op
            raw = self.take("num")
            return ("cmp", skill, op, _check_level(skill, int(raw), lo=0))
        return ("cmp", skill, ">=", 1)


def _simplify(node: Node) -> Node:
    kind = node[0]
    if kind in ("and", "or"):
        flat: list[Node] = []
        for child in map(_simplify, node[1]):
            if child[0] == kind:
                flat.extend(child[1])
            else:
                flat.append(child)
        if kind == "and":
            flat = [c for c in flat if c != ("true",)]
            if not flat:
                return ("true",)
        elif any(c == ("true",) for c in flat):
            return ("true",)
        unique = {_canonical(c): c for c in flat}
        items = tuple(unique[k] for k in sorted(unique))
        return items[0] if len(items) == 1 else (kind, items)
    if kind == "not":
        return ("not", _simplify(node[1]))
    return node


def _canonical(node: Node) -> str:
    kind = node[0]
    if kind == "true":
        return ""
    if kind == "cmp":
        return f"{node[1]}{node[2]}{node[3]}"
    if kind == "not":
        inner = _canonical(node[1])
        return f"NOT ({inner})" if node[1][0] in ("and", "or") else f"NOT {inner or '*'}"
    joiner = " AND " if kind == "and" else " OR "
    parts = []
    for child in node[1]:
        text = _canonical(child)
        parts.append(f"({text})" if child[0] in ("and", "or") else text)
    return joiner.join(parts)


def _compile(node: Node) -> Callable[[SkillMap], bool]:
    kind = node[0]
    if kind == "true":
        return lambda skills: True
    if kind == "cmp":
        _, skill, op, level = node
        if op == ">=":
            return lambda skills: skills.get(skill, 0) >= level
        fn = _OPS[op]
        return lambda skills: fn(skills.get(skill, 0), level)
    if kind == "not":
        inner = _compile(node[1])
        return lambda skills: not inner(skills)
    parts = tuple(_compile(c) for c in node[1])
    if kind == "and":
        return lambda skills: all(p(skills) for p in parts)
    return lambda skills: any(p(skills) for p in parts)


def _skills_of(node: Node) -> set[str]:
    kind = node[0]
    if kind == "cmp":
        return {node[1]}
    if kind == "not":
        return _skills_of(node[1])
    if kind in ("and", "or"):
        out: set[str] = set()
        for child in node[1]:
            out |= _skills_of(child)
        return out
    return set()


@lru_cache(maxsize=4096)
def _parse_cached(text: str) -> Requirement:
    node = _simplify(_Parser(text, None).parse())
    fn = _compile(node)
    return Requirement(_canonical(node), frozenset(_skills_of(node)), fn, bool(fn({})))


def parse_requirement(text: str | None, catalogue: Container[str] | None = None) -> Requirement:
    """Parse a requirement expression.

    Grammar (keywords case-insensitive)::

        expr := term (OR term)*          term := factor (AND factor)*
        factor := NOT factor | '(' expr ')' | '*' | SKILL [op LEVEL]
        op := >= | > | <= | < | == | = | !=      LEVEL := 0..5

    A bare ``SKILL`` means ``SKILL>=1``; ``*`` or an empty string means "anyone".
    Raises :class:`InvalidExpression`, :class:`InvalidSkill` or :class:`InvalidLevel`.
    """
    if text is None:
        text = ""
    if not isinstance(text, str) or len(text) > 2000:
        raise InvalidExpression("a requirement expression is a string of at most 2000 characters")
    req = _parse_cached(text.strip())
    if catalogue is not None:
        for skill in req.skills:
            validate_skill_name(skill, catalogue)
    return req


@lru_cache(maxsize=4096)
def combine_requirements(first: str, second: str) -> Requirement:
    """``first AND second`` (canonical forms in, canonical form out)."""
    if not first:
        return _parse_cached(second)
    if not second:
        return _parse_cached(first)
    return _parse_cached(f"({first}) AND ({second})")


def task_order_key(priority: int, enqueued_at: float, time_adjustment: float, seq: int) -> tuple[int, float, int]:
    """Order of tasks in a queue: higher priority first, then older effective age, then seq.

    Effective age is ``now - enqueued_at + time_adjustment``; sorting ascending by
    ``enqueued_at - time_adjustment`` is the same as sorting by age descending.
    """
    return (-priority, enqueued_at - time_adjustment, seq)


# --------------------------------------------------------------------------------------
# configuration types

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS_RE = re.compile(
    r"\s*(?P<d1>[a-z]{3})(?:\s*-\s*(?P<d2>[a-z]{3}))?\s+(?P<h1>\d{1,2}):(?P<m1>\d{2})\s*-\s*"
    r"(?P<h2>\d{1,2}):(?P<m2>\d{2})\s*\Z"
)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """Weekly opening intervals in the tenant's timezone.

    ``weekly`` holds ``(weekday, start_minute, end_minute)`` with weekday 0 = Monday and
    ``0 <= start < end <= 1440``. Build it with :meth:`parse`:
    ``OpeningHours.parse(["mon-fri 09:00-18:00", "sat 10:00-14:00"])``.
    Holidays are not part of the weekly pattern: the router asks its holiday hook.
    """

    weekly: tuple[tuple[int, int, int], ...]

    def __post_init__(self) -> None:
        for item in self.weekly:
            if len(item) != 3:
                raise InvalidConfig("opening interval is (weekday, start_minute, end_minute)", value=item)
            day, start, end = item
            if not (0 <= day <= 6 and 0 <= start < end <= 1440):
                raise InvalidConfig("invalid opening interval", value=item)

    @classmethod
    def parse(cls, specs: Iterable[str]) -> OpeningHours:
        if isinstance(specs, str):
            specs = [specs]
        out: list[tuple[int, int, int]] = []
        for spec in specs:
            m = _HOURS_RE.match(spec.lower())
            if m is None:
                raise InvalidConfig("opening hours look like 'mon-fri 09:00-18:00'", value=spec)
            d1, d2 = m["d1"], m["d2"] or m["d1"]
            if d1 not in _DAY_NAMES or d2 not in _DAY_NAMES:
                raise InvalidConfig("unknown weekday in opening hours", value=spec)
            start = int(m["h1"]) * 60 + int(m["m1"])
            end = int(m["h2"]) * 60 + int(m["m2"])
            i, j = _DAY_NAMES.index(d1), _DAY_NAMES.index(d2)
            days = range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)]
            for day in days:
                out.append((day, start, end))
        return cls(tuple(out))

    def is_open(self, local: datetime) -> bool:
        day = local.weekday()
        minute = local.hour * 60 + local.minute
        return any(d == day and s <= minute < e for d, s, e in self.weekly)

    def to_dict(self) -> list[str]:
        return [f"{_DAY_NAMES[d]} {_hhmm(s)}-{_hhmm(e)}" for d, s, e in self.weekly]

    @classmethod
    def from_dict(cls, data: Iterable[str] | None) -> OpeningHours | None:
        return None if data is None else cls.parse(list(data))


@dataclass(frozen=True, slots=True)
class ExceptionRule:
    """When ``trigger`` fires for a task in the queue, do ``action``.

    See :data:`EXCEPTION_TRIGGERS` and :data:`EXCEPTION_ACTIONS`. ``threshold`` is a
    count for ``queue_length`` and seconds for ``wait_time``; ``target_queue_id`` is
    required for ``overflow``; ``message`` is passed through to the call controller
    (announcement id, voicemail box …).
    """

    id: str
    trigger: str
    action: str
    threshold: float = 0.0
    target_queue_id: str | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "trigger": self.trigger,
            "action": self.action,
            "threshold": self.threshold,
            "target_queue_id": self.target_queue_id,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExceptionRule:
        return cls(
            id=data["id"],
            trigger=data["trigger"],
            action=data["action"],
            threshold=data.get("threshold", 0.0),
            target_queue_id=data.get("target_queue_id"),
            message=data.get("message", ""),
        )


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """A queue (skill group).

    ``eligibility`` is a requirement expression every agent serving the queue must meet
    (``""`` = any agent). ``mode`` is one of :data:`DISTRIBUTION_MODES`. Times are
    seconds. ``max_length`` caps tasks in the queue (waiting or ringing); ``None`` = no
    cap. ``hours`` ``None`` = always open (holidays still apply). ``linear_order`` is the
    fixed agent order of the ``linear`` mode (agents not listed come after, in the order
    they were added).
    """

    id: str
    eligibility: str = ""
    mode: str = LONGEST_IDLE
    wrap_up_s: float = 0.0
    sl_threshold_s: float = 20.0
    max_length: int | None = None
    hours: OpeningHours | None = None
    offer_timeout_s: float = 20.0
    exception_rules: tuple[ExceptionRule, ...] = ()
    linear_order: tuple[str, ...] = ()
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "eligibility": self.eligibility,
            "mode": self.mode,
            "wrap_up_s": self.wrap_up_s,
            "sl_threshold_s": self.sl_threshold_s,
            "max_length": self.max_length,
            "hours": None if self.hours is None else self.hours.to_dict(),
            "offer_timeout_s": self.offer_timeout_s,
            "exception_rules": [r.to_dict() for r in self.exception_rules],
            "linear_order": list(self.linear_order),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QueueConfig:
        hours = data.get("hours")
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            eligibility=data.get("eligibility", ""),
            mode=data.get("mode", LONGEST_IDLE),
            wrap_up_s=data.get("wrap_up_s", 0.0),
            sl_threshold_s=data.get("sl_threshold_s", 20.0),
            max_length=data.get("max_length"),
            hours=hours if isinstance(hours, OpeningHours) else OpeningHours.from_dict(hours),
            offer_timeout_s=data.get("offer_timeout_s", 20.0),
            exception_rules=tuple(
                r if isinstance(r, ExceptionRule) else ExceptionRule.from_dict(r)
                for r in data.get("exception_rules", ())
            ),
            linear_order=tuple(data.get("linear_order", ())),
        )


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """An agent's static configuration: skills ``{name: level 1–5}`` and capacity per channel."""

    id: str
    skills: Mapping[str, int] = field(default_factory=dict)
    capacity: Mapping[str, int] = field(default_factory=lambda: {"voice": 1})
    name: str = ""

    def __post_init__(self) -> None:
        # private copies: the config is immutable even if the caller's dicts change
        object.__setattr__(self, "skills", dict(self.skills))
        object.__setattr__(self, "capacity", dict(self.capacity))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "skills": dict(self.skills),
            "capacity": dict(self.capacity),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentConfig:
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            skills=dict(data.get("skills", {})),
            capacity=dict(data.get("capacity", {"voice": 1})),
        )


@dataclass(frozen=True, slots=True)
class PolicyStep:
    """One step of a routing policy.

    The task waits in ``queue_id`` for agents meeting the queue's eligibility AND
    ``requirements``. ``priority`` ``None`` keeps the task's own priority.
    After ``expires_after_s`` seconds in this step the next step applies (``None``: the
    step never expires).
    """

    queue_id: str
    priority: int | None = None
    requirements: str = ""
    expires_after_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "queue_id": self.queue_id,
            "priority": self.priority,
            "requirements": self.requirements,
            "expires_after_s": self.expires_after_s,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicyStep:
        return cls(
            queue_id=data["queue_id"],
            priority=data.get("priority"),
            requirements=data.get("requirements", ""),
            expires_after_s=data.get("expires_after_s"),
        )


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    """Ordered steps; when the last step expires the task continues with ``fallback_policy_id``."""

    id: str
    steps: tuple[PolicyStep, ...]
    fallback_policy_id: str | None = None
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "steps": [s.to_dict() for s in self.steps],
            "fallback_policy_id": self.fallback_policy_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoutingPolicy:
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            steps=tuple(s if isinstance(s, PolicyStep) else PolicyStep.from_dict(s) for s in data["steps"]),
            fallback_policy_id=data.get("fallback_policy_id"),
        )


@dataclass(frozen=True, slots=True)
class RouterSettings:
    """Tenant-wide routing settings.

    * ``timezone``: IANA name; days (today's counters) and opening hours use it.
    * ``max_consecutive_misses``: K; after K missed or rejected offers in a row the agent is
      auto-paused (status ``break``, reason ``missed_offers``). 0 disables auto-pause.
    * ``missed_offer_delay_s``: how long an agent stays in state ``missed`` (not offered
      anything) after a missed or rejected offer.
    * ``short_abandon_s``: abandons within this many seconds count as short abandons.
    * ``skill_catalogue``: if set, only these skill names are accepted.
    * ``break_reasons``: if set, only these break reasons are accepted (``missed_offers`` is
      always allowed for the system).
    * ``terminal_retention``: how many finished task ids are remembered so that late
      commands on them get a precise error instead of ``unknown_task``.
    * ``max_overflow_hops``: safety limit on overflows applied at one instant.
    """

    timezone: str = "UTC"
    max_consecutive_misses: int = 3
    missed_offer_delay_s: float = 0.0
    short_abandon_s: float = 5.0
    skill_catalogue: frozenset[str] | None = None
    break_reasons: frozenset[str] | None = None
    terminal_retention: int = 10_000
    max_overflow_hops: int = 8

    def __post_init__(self) -> None:
        if not isinstance(self.max_consecutive_misses, int) or self.max_consecutive_misses < 0:
            raise InvalidConfig("max_consecutive_misses must be an integer >= 0")
        _check_seconds("missed_offer_delay_s", self.missed_offer_delay_s)
        _check_seconds("short_abandon_s", self.short_abandon_s)
        if self.terminal_retention < 0 or self.max_overflow_hops < 1:
            raise InvalidConfig("terminal_retention must be >= 0 and max_overflow_hops >= 1")


# --------------------------------------------------------------------------------------
# validation


def validate_agent_config(agent: AgentConfig, catalogue: Container[str] | None = None) -> None:
    """Raise InvalidArgument / InvalidSkill / InvalidLevel / InvalidConfig for a bad agent."""
    _check_id("agent", agent.id)
    if not isinstance(agent.skills, Mapping):
        raise InvalidSkill("skills must be a mapping {name: level}")
    for name, level in agent.skills.items():
        validate_skill_name(name, catalogue)
        _check_level(name, level)
    if not isinstance(agent.capacity, Mapping) or not agent.capacity:
        raise InvalidConfig("capacity must map at least one channel to a count", agent_id=agent.id)
    for channel, count in agent.capacity.items():
        if not isinstance(channel, str) or not channel:
            raise InvalidConfig("channel names are non-empty strings", channel=channel)
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 1000:
            raise InvalidConfig("channel capacity must be an integer 0–1000", channel=channel, value=count)


def validate_queue_config(
    queue: QueueConfig,
    queues: Mapping[str, QueueConfig],
    catalogue: Container[str] | None = None,
) -> None:
    """Validate a queue against the other queues (``queues`` may contain an old version of it).

    Checks values, the eligibility expression, exception rules, overflow targets (must
    exist) and that overflows applied on entry cannot cycle (A → B → A at one instant).
    """
    _check_id("queue", queue.id)
    parse_requirement(queue.eligibility, catalogue)
    if queue.mode not in DISTRIBUTION_MODES:
        raise InvalidConfig(f"unknown distribution mode {queue.mode!r}", field="mode", allowed=list(DISTRIBUTION_MODES))
    _check_seconds("wrap_up_s", queue.wrap_up_s)
    _check_seconds("sl_threshold_s", queue.sl_threshold_s)
    _check_seconds("offer_timeout_s", queue.offer_timeout_s, positive=True)
    if queue.max_length is not None and (
        isinstance(queue.max_length, bool) or not isinstance(queue.max_length, int) or queue.max_length < 0
    ):
        raise InvalidConfig("max_length must be an integer >= 0 or None", field="max_length")
    if queue.hours is not None and not isinstance(queue.hours, OpeningHours):
        raise InvalidConfig("hours must be OpeningHours or None", field="hours")
    if not all(isinstance(a, str) for a in queue.linear_order):
        raise InvalidConfig("linear_order lists agent ids", field="linear_order")
    seen: set[str] = set()
    for rule in queue.exception_rules:
        _check_id("exception rule", rule.id)
        if rule.id in seen:
            raise InvalidConfig("exception rule ids must be unique within a queue", rule_id=rule.id)
        seen.add(rule.id)
        if rule.trigger not in EXCEPTION_TRIGGERS:
            raise InvalidConfig(f"unknown exception trigger {rule.trigger!r}", allowed=list(EXCEPTION_TRIGGERS))
        if rule.action not in EXCEPTION_ACTIONS:
            raise InvalidConfig(f"unknown exception action {rule.action!r}", allowed=list(EXCEPTION_ACTIONS))
        _check_seconds("threshold", rule.threshold)
        if rule.trigger == "wait_time" and rule.threshold <= 0:
            raise InvalidConfig("a wait_time trigger needs a threshold > 0 seconds", rule_id=rule.id)
        if rule.action == "overflow":
            target = rule.target_queue_id
            if target is None:
                raise InvalidPolicy("an overflow action needs target_queue_id", reason="missing_queue")
            if target != queue.id and target not in queues:
                raise InvalidPolicy(
                    f"overflow target queue {target!r} does not exist",
                    reason="missing_queue",
                    queue_id=target,
                )
            if target == queue.id:
                raise InvalidPolicy("a queue cannot overflow into itself", reason="loop", queue_id=queue.id)
    _check_entry_overflow_cycles(queue, queues)


def _entry_overflow_targets(queue: QueueConfig) -> list[str]:
    return [
        r.target_queue_id
        for r in queue.exception_rules
        if r.action == "overflow" and r.trigger in ENTRY_TRIGGERS and r.target_queue_id is not None
    ]


def _check_entry_overflow_cycles(queue: QueueConfig, queues: Mapping[str, QueueConfig]) -> None:
    graph = dict(queues)
    graph[queue.id] = queue
    # depth-first search from the changed queue: any cycle that appeared passes through it
    stack: list[tuple[str, list[str]]] = [(queue.id, [queue.id])]
    while stack:
        qid, path = stack.pop()
        for target in _entry_overflow_targets(graph[qid]) if qid in graph else []:
            if target == queue.id:
                raise InvalidPolicy(
                    "exception-rule overflows on entry form a loop: " + " → ".join([*path, target]),
                    reason="loop",
                    path=[*path, target],
                )
            if target not in path:
                stack.append((target, [*path, target]))


def validate_policy(
    policy: RoutingPolicy,
    queue_ids: Container[str],
    policies: Mapping[str, RoutingPolicy],
    catalogue: Container[str] | None = None,
) -> None:
    """Validate a routing policy against existing queues and policies.

    Rejects (``InvalidPolicy`` with ``details["reason"]``): no steps (``empty``), a step
    naming a missing queue (``missing_queue``), a missing fallback policy
    (``missing_policy``), a step that can never be reached because an earlier step never
    expires (``unreachable_step``), a last step that expires with no fallback
    (``dangling_expiry``) and fallback chains that come back to a policy already visited
    (``loop``: a task would cycle forever without exit).
    """
    _check_id("policy", policy.id)
    if not policy.steps:
        raise InvalidPolicy("a routing policy needs at least one step", reason="empty", policy_id=policy.id)
    for index, step in enumerate(policy.steps):
        if step.queue_id not in queue_ids:
            raise InvalidPolicy(
                f"step {index} targets missing queue {step.queue_id!r}",
                reason="missing_queue",
                policy_id=policy.id,
                step=index,
                queue_id=step.queue_id,
            )
        if step.priority is not None and (isinstance(step.priority, bool) or not isinstance(step.priority, int)):
            raise InvalidConfig("step priority must be an integer or None", step=index)
        parse_requirement(step.requirements, catalogue)
        _check_seconds("expires_after_s", step.expires_after_s, allow_none=True, positive=True)
        last = index == len(policy.steps) - 1
        if step.expires_after_s is None and not last:
            raise InvalidPolicy(
                f"step {index} never expires, so step {index + 1} can never apply",
                reason="unreachable_step",
                policy_id=policy.id,
                step=index + 1,
            )
    if policy.steps[-1].expires_after_s is not None and policy.fallback_policy_id is None:
        raise InvalidPolicy(
            "the last step expires but the policy has no fallback_policy_id",
            reason="dangling_expiry",
            policy_id=policy.id,
        )
    if policy.fallback_policy_id is not None and policy.steps[-1].expires_after_s is None:
        raise InvalidPolicy(
            "fallback_policy_id is never used because the last step never expires",
            reason="unreachable_step",
            policy_id=policy.id,
        )
    graph = dict(policies)
    graph[policy.id] = policy
    path = [policy.id]
    current: RoutingPolicy | None = policy
    while current is not None and current.fallback_policy_id is not None:
        nxt = current.fallback_policy_id
        if nxt not in graph:
            raise InvalidPolicy(
                f"fallback policy {nxt!r} does not exist", reason="missing_policy", policy_id=current.id
            )
        if nxt in path:
            raise InvalidPolicy(
                "routing policies fall back in a loop: " + " → ".join([*path, nxt]),
                reason="loop",
                path=[*path, nxt],
            )
        path.append(nxt)
        current = graph[nxt]


# --------------------------------------------------------------------------------------
# agent status transitions

_A, _S, _Y = ACTOR_AGENT, ACTOR_SUPERVISOR, ACTOR_SYSTEM
#: (from status, to status) → actors allowed to make the change. Anything absent is refused.
#: Breaks the system sets and ends itself: auto-pause after missed offers, an agent's own outbound call,
#: an agent being consulted outside routing. People cannot choose them.
SYSTEM_BREAK_REASONS = frozenset({MISSED_OFFERS_REASON, "outbound", "consult"})

STATUS_TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (OFFLINE, AVAILABLE): frozenset({_A, _S}),  # log in
    (OFFLINE, BREAK): frozenset({_A, _S}),  # log in straight into a break
    (AVAILABLE, BREAK): frozenset({_A, _S, _Y}),  # pause (system: auto-pause after misses)
    (AVAILABLE, OFFLINE): frozenset({_A, _S}),  # log out
    (BREAK, AVAILABLE): frozenset({_A, _S, _Y}),  # unpause (system: end of its own outbound/consult break)
    (BREAK, BREAK): frozenset({_A, _S}),  # change the break reason
    (BREAK, OFFLINE): frozenset({_A, _S}),  # log out from a break
}


def check_status_change(
    current: str,
    new: str,
    actor: str,
    *,
    reason: str | None,
    has_assigned_tasks: bool,
    allowed_reasons: Container[str] | None = None,
) -> str | None:
    """Check an agent status change; return the break reason to store (``None`` unless break).

    Raises :class:`StatusChangeNotAllowed` for an unknown status or actor, a transition
    not in :data:`STATUS_TRANSITIONS` for that actor, an agent logging itself out while
    it still has assigned tasks (a supervisor may force it: the tasks finish normally), a
    reason ``missed_offers`` set by anyone but the system, or a reason outside
    ``allowed_reasons``.
    """
    if new not in AGENT_STATUSES:
        raise StatusChangeNotAllowed(f"unknown status {new!r}", status=new, allowed=list(AGENT_STATUSES))
    if actor not in ACTORS:
        raise StatusChangeNotAllowed(f"unknown actor {actor!r}", actor=actor, allowed=list(ACTORS))
    if new != BREAK and reason is not None:
        raise StatusChangeNotAllowed("only a break has a reason", status=new)
    if new == current and new != BREAK:
        return None
    allowed = STATUS_TRANSITIONS.get((current, new))
    if allowed is None or actor not in allowed:
        raise StatusChangeNotAllowed(
            f"{actor} may not change status from {current} to {new}", current=current, status=new, actor=actor
        )
    if new == OFFLINE and has_assigned_tasks and actor != ACTOR_SUPERVISOR:
        raise StatusChangeNotAllowed(
            "an agent with assigned tasks cannot log out (complete them first, or a supervisor forces it)",
            current=current,
            status=new,
        )
    if new != BREAK:
        return None
    reason = reason if reason is not None else "break"
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 64:
        raise StatusChangeNotAllowed("a break reason is a non-empty string of at most 64 characters")
    if actor == ACTOR_SYSTEM:
        if reason not in SYSTEM_BREAK_REASONS:
            raise StatusChangeNotAllowed(
                f"the system only pauses agents for {', '.join(sorted(SYSTEM_BREAK_REASONS))}", reason=reason)
        return reason
    if reason in SYSTEM_BREAK_REASONS:
        raise StatusChangeNotAllowed(f"break reason {reason!r} is set by the system only")
    if allowed_reasons is not None and reason not in allowed_reasons:
        raise StatusChangeNotAllowed(f"unknown break reason {reason!r}", reason=reason)
    return reason


# --------------------------------------------------------------------------------------
# estimated wait time, handle-time average


def ema_update(old: float | None, new: float) -> float:
    """Moving average of handle times: ``(3·old + new) / 4`` (Asterisk app_queue's recalc)."""
    return new if old is None else (3.0 * old + new) / 4.0


def estimate_wait(position: int, average_handle_s: float | None, staffed_agents: int) -> float | None:
    """Expected wait for a task with ``position`` tasks ahead of it.

    ``EWT = average occupation time × (position + 1) ÷ eligible staffed agents``: with all
    agents busy one of ``n`` agents frees up every ``AHT/n`` seconds on average, and the
    task needs ``position + 1`` of those. Returns ``None`` ("unknown") when there is no
    handle-time history yet or no eligible agent is logged in; never 0 for a waiting task.
    """
    if average_handle_s is None or staffed_agents <= 0 or position < 0:
        return None
    return max(average_handle_s, 1.0) * (position + 1) / staffed_agents


# --------------------------------------------------------------------------------------
# days in the tenant's timezone


class DayCalendar:
    """Local days of a timezone: ``day_of(ts)`` is the ISO date.

    The current day window ``[start, end)`` and its ``key`` are public so hot paths can
    test ``start <= ts < end`` without a call."""

    __slots__ = ("end", "key", "start", "tz")

    def __init__(self, timezone: str = "UTC") -> None:
        try:
            self.tz = zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidConfig(f"unknown timezone {timezone!r}", timezone=timezone) from exc
        self.start = math.inf
        self.end = -math.inf
        self.key = ""

    def local(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, self.tz)

    def day_of(self, ts: float) -> str:
        if self.start <= ts < self.end:
            return self.key
        local = self.local(ts)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        nxt = (midnight + timedelta(days=1)).replace(tzinfo=None)
        self.start = midnight.timestamp()
        self.end = nxt.replace(tzinfo=self.tz).timestamp()
        self.key = midnight.date().isoformat()
        return self.key

    def next_day_start(self, ts: float) -> float:
        """POSIX time of the first local midnight after ``ts``."""
        self.day_of(ts)
        return self.end
