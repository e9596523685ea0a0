"""Routing: queues, skills, agent state and the ACD engine.

The public surface for the rest of kefu (persistence, HTTP API, simulator):

* :class:`Router` — one in-memory, single-writer router per tenant, driven by a clock port;
* configuration types — :class:`QueueConfig`, :class:`AgentConfig`, :class:`RoutingPolicy`,
  :class:`PolicyStep`, :class:`ExceptionRule`, :class:`OpeningHours`, :class:`RouterSettings`;
* events — every transition as a typed, immutable event (``kefu.routing.events``), plus
  :func:`fold` / :class:`RouterState` and ``Router.restore`` for crash recovery;
* errors — :class:`RoutingError` subclasses with a machine ``code`` and ``http_status``.
"""

from kefu.routing import events
from kefu.routing.engine import AgentStats, HolidayCalendar, QueueStats, Router, Sink
from kefu.routing.errors import (
    DuplicateTask,
    InUse,
    InvalidArgument,
    InvalidConfig,
    InvalidExpression,
    InvalidLevel,
    InvalidPolicy,
    InvalidSkill,
    OfferExpired,
    OfferNotFound,
    QueueClosed,
    QueueFull,
    RoutingError,
    StatusChangeNotAllowed,
    TaskNotAssignedToAgent,
    TaskStateConflict,
    UnknownAgent,
    UnknownPolicy,
    UnknownQueue,
    UnknownTask,
)
from kefu.routing.events import EVENT_TYPES, Event, RouterState, event_from_dict, fold
from kefu.routing.rules import (
    AGENT_STATES,
    AGENT_STATUSES,
    DISTRIBUTION_MODES,
    EXCEPTION_ACTIONS,
    EXCEPTION_TRIGGERS,
    STATUS_TRANSITIONS,
    AgentConfig,
    ExceptionRule,
    OpeningHours,
    PolicyStep,
    QueueConfig,
    RouterSettings,
    RoutingPolicy,
    parse_requirement,
)

__all__ = [
    "AGENT_STATES",
    "AGENT_STATUSES",
    "DISTRIBUTION_MODES",
    "EVENT_TYPES",
    "EXCEPTION_ACTIONS",
    "EXCEPTION_TRIGGERS",
    "STATUS_TRANSITIONS",
    "AgentConfig",
    "AgentStats",
    "DuplicateTask",
    "Event",
    "ExceptionRule",
    "HolidayCalendar",
    "InUse",
    "InvalidArgument",
    "InvalidConfig",
    "InvalidExpression",
    "InvalidLevel",
    "InvalidPolicy",
    "InvalidSkill",
    "OfferExpired",
    "OfferNotFound",
    "OpeningHours",
    "PolicyStep",
    "QueueClosed",
    "QueueConfig",
    "QueueFull",
    "QueueStats",
    "Router",
    "RouterSettings",
    "RouterState",
    "RoutingError",
    "RoutingPolicy",
    "Sink",
    "StatusChangeNotAllowed",
    "TaskNotAssignedToAgent",
    "TaskStateConflict",
    "UnknownAgent",
    "UnknownPolicy",
    "UnknownQueue",
    "UnknownTask",
    "event_from_dict",
    "events",
    "fold",
    "parse_requirement",
]
