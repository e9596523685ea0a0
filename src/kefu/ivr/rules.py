"""IVR flow definitions and their validation (pure: no I/O).

A flow is a graph of named nodes starting at ``start``. Node kinds:

=================  ==========================================================  ==========
kind               does                                                        exits to
=================  ==========================================================  ==========
``play``           plays a prompt                                              ``next``
``menu``           plays a prompt and collects one digit; retries on no input  ``options[d]``, ``no_input``
                   or an invalid digit
``hours``          checks business hours and holidays (tenant time zone)       ``open`` / ``closed``
``self_service``   a self-service leaf, e.g. ``sms_balance`` (send balance     ``next``
                   by SMS) or ``sms_incident_notice``
``condition``      branches on a caller attribute (``vip``, ``known_caller``,  ``then`` / ``else``
                   ``incident_in_area`` …)
``queue``          enters a queue with a priority and attributes; offers a     terminal
                   callback when the estimated wait exceeds a threshold
``voicemail``      records a message                                           terminal
``transfer``       transfers to an external number                             terminal
``hangup``         plays an optional prompt and hangs up                       terminal
=================  ==========================================================  ==========

:func:`validate_flow` rejects, with a message naming the node: references to
missing nodes, nodes unreachable from the start, nodes from which no terminal
node can be reached (loops without exit), references to queues that do not
exist, menus without a way out on bad input, and empty prompts.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
NODE_NAME = r"^[A-Za-z0-9_.-]{1,40}$"
DIGITS = "0123456789*#"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SELF_SERVICE_ACTIONS = ("sms_balance", "sms_incident_notice", "play_balance")
CONDITION_ATTRIBUTES = ("vip", "known_caller", "incident_in_area", "repeat_caller")


class Prompt(BaseModel):
    """What the caller hears: a prompt file id, or text for a speech engine."""

    model_config = _STRICT
    file: str | None = Field(default=None, max_length=200, pattern=r"^[A-Za-z0-9_./-]+$")
    text: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _one(self) -> Prompt:
        if not (self.file or self.text):
            raise ValueError("a prompt needs a 'file' or a 'text'")
        return self

    def label(self) -> str:
        return self.file or (self.text or "")[:60]


class _Node(BaseModel):
    model_config = _STRICT
    label: str | None = Field(default=None, max_length=100)


class PlayNode(_Node):
    type: Literal["play"]
    prompt: Prompt
    next: str


class MenuNode(_Node):
    type: Literal["menu"]
    prompt: Prompt
    options: dict[str, str] = Field(min_length=1, max_length=12)
    timeout: float = Field(default=5.0, gt=0, le=60)
    retries: int = Field(default=2, ge=0, le=5)
    invalid_prompt: Prompt | None = None
    #: Where the caller goes after the last retry without a valid digit.
    no_input: str

    @field_validator("options")
    @classmethod
    def _digits(cls, options: dict[str, str]) -> dict[str, str]:
        for digit in options:
            if len(digit) != 1 or digit not in DIGITS:
                raise ValueError(f"menu option {digit!r} must be one key: 0-9, * or #")
        return options


class BusinessHours(BaseModel):
    model_config = _STRICT
    timezone: str = "Asia/Shanghai"
    #: Per weekday, a list of [start, end] times "HH:MM"; several intervals a day are allowed.
    weekly: dict[str, list[tuple[str, str]]]
    holidays: list[date] = Field(default_factory=list, max_length=400)
    #: Extra working days (make-up days, 调休) that override a closed weekday.
    working_days: list[date] = Field(default_factory=list, max_length=100)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except Exception:
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("weekly")
    @classmethod
    def _weekly(cls, weekly: dict[str, list[tuple[str, str]]]) -> dict[str, list[tuple[str, str]]]:
        for day, intervals in weekly.items():
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r}; use {', '.join(WEEKDAYS)}")
            for start, end in intervals:
                if not (re.fullmatch(r"\d{2}:\d{2}", start) and re.fullmatch(r"\d{2}:\d{2}", end)):
                    raise ValueError(f"{day}: times must look like 08:30")
                if not start < end <= "24:00":
                    raise ValueError(f"{day}: interval {start}-{end} must start before it ends")
        return weekly

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.timezone))
        day = local.date()
        if day in self.holidays:
            return False
        intervals = self.weekly.get(WEEKDAYS[local.weekday()], [])
        if not intervals and day in self.working_days:
            intervals = self.weekly.get("mon", [])
        now = local.time()
        for start, end in intervals:
            start_t = time.fromisoformat(start)
            end_t = time(23, 59, 59, 999999) if end == "24:00" else time.fromisoformat(end)
            if start_t <= now < end_t:
                return True
        return False


class HoursNode(_Node):
    type: Literal["hours"]
    hours: BusinessHours
    open: str
    closed: str


class SelfServiceNode(_Node):
    type: Literal["self_service"]
    action: str
    prompt: Prompt | None = None
    next: str

    @field_validator("action")
    @classmethod
    def _action(cls, value: str) -> str:
        if value not in SELF_SERVICE_ACTIONS:
            raise ValueError(f"unknown self-service action {value!r}; known: {', '.join(SELF_SERVICE_ACTIONS)}")
        return value


class ConditionNode(_Node):
    type: Literal["condition"]
    attribute: str
    then: str
    otherwise: str = Field(alias="else")

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    @field_validator("attribute")
    @classmethod
    def _attribute(cls, value: str) -> str:
        if value not in CONDITION_ATTRIBUTES:
            raise ValueError(f"unknown attribute {value!r}; known: {', '.join(CONDITION_ATTRIBUTES)}")
        return value


class QueueNode(_Node):
    type: Literal["queue"]
    queue: str = Field(min_length=1, max_length=64)
    priority: int = Field(default=0, ge=-100, le=100)
    attributes: dict[str, str | int | float | bool] = Field(default_factory=dict, max_length=20)
    prompt: Prompt | None = None
    #: Offer a callback when the estimated wait exceeds this many seconds (None: never).
    callback_offer_after: float | None = Field(default=None, gt=0, le=86400)
    callback_prompt: Prompt | None = None


class VoicemailNode(_Node):
    type: Literal["voicemail"]
    prompt: Prompt
    max_seconds: int = Field(default=120, ge=5, le=600)


class TransferNode(_Node):
    type: Literal["transfer"]
    number: str = Field(pattern=r"^\+?[0-9]{3,20}$")
    prompt: Prompt | None = None


class HangupNode(_Node):
    type: Literal["hangup"]
    prompt: Prompt | None = None


Node = Annotated[
    PlayNode
    | MenuNode
    | HoursNode
    | SelfServiceNode
    | ConditionNode
    | QueueNode
    | VoicemailNode
    | TransferNode
    | HangupNode,
    Field(discriminator="type"),
]
TERMINAL = ("queue", "voicemail", "transfer", "hangup")


class FlowDefinition(BaseModel):
    model_config = _STRICT
    start: str = Field(pattern=NODE_NAME)
    nodes: dict[str, Node] = Field(min_length=1, max_length=200)

    @field_validator("nodes")
    @classmethod
    def _names(cls, nodes: dict[str, Any]) -> dict[str, Any]:
        for name in nodes:
            if not re.fullmatch(NODE_NAME, name):
                raise ValueError(f"node name {name!r}: use 1-40 letters, digits, '_', '.', '-'")
        return nodes


def exits(node: Any) -> list[tuple[str, str]]:
    """(label, target) pairs of a node's outgoing edges."""
    if isinstance(node, PlayNode | SelfServiceNode):
        return [("next", node.next)]
    if isinstance(node, MenuNode):
        return [(f"option {d}", t) for d, t in node.options.items()] + [("no_input", node.no_input)]
    if isinstance(node, HoursNode):
        return [("open", node.open), ("closed", node.closed)]
    if isinstance(node, ConditionNode):
        return [("then", node.then), ("else", node.otherwise)]
    return []


class FlowProblem(ValueError):
    """A flow that cannot be saved; ``problems`` lists every reason, each naming its node."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_flow(data: Any) -> FlowDefinition:
    try:
        return TypeAdapter(FlowDefinition).validate_python(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"] if not isinstance(p, int) or True)
            problems.append(f"{where}: {err['msg']}")
        raise FlowProblem(problems) from None


def validate_flow(data: Any, known_queues: Iterable[str]) -> FlowDefinition:
    """Parse and check a flow; raises :class:`FlowProblem` listing everything wrong with it."""
    flow = data if isinstance(data, FlowDefinition) else parse_flow(data)
    queues = set(known_queues)
    problems: list[str] = []
    if flow.start not in flow.nodes:
        problems.append(f"start node {flow.start!r} does not exist")
    for name, node in flow.nodes.items():
        for label, target in exits(node):
            if target not in flow.nodes:
                problems.append(f"node {name!r}: {label} goes to {target!r}, which does not exist")
        if isinstance(node, QueueNode) and node.queue not in queues:
            problems.append(f"node {name!r}: queue {node.queue!r} does not exist")
        if isinstance(node, QueueNode) and node.callback_offer_after and node.callback_prompt is None:
            problems.append(f"node {name!r}: a callback offer needs a callback_prompt")
    if problems:
        raise FlowProblem(problems)
    # Reachability from the start.
    reachable = {flow.start}
    todo = deque([flow.start])
    while todo:
        for _label, target in exits(flow.nodes[todo.popleft()]):
            if target not in reachable:
                reachable.add(target)
                todo.append(target)
    for name in flow.nodes:
        if name not in reachable:
            problems.append(f"node {name!r} cannot be reached from the start {flow.start!r}")
    # Every node must be able to reach a terminal node (no loop without exit).
    reverse: dict[str, set[str]] = {name: set() for name in flow.nodes}
    for name, node in flow.nodes.items():
        for _label, target in exits(node):
            reverse[target].add(name)
    can_finish = {name for name, node in flow.nodes.items() if node.type in TERMINAL}
    todo = deque(can_finish)
    while todo:
        for source in reverse[todo.popleft()]:
            if source not in can_finish:
                can_finish.add(source)
                todo.append(source)
    for name in sorted(reachable - can_finish):
        problems.append(
            f"node {name!r} loops without an exit: no queue, voicemail, transfer or hangup can be reached from it"
        )
    if problems:
        raise FlowProblem(problems)
    return flow
