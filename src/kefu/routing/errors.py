"""Errors raised by the routing engine.

Every error carries a stable machine ``code`` (snake_case, part of the API contract), a
human ``message`` and a ``details`` dict with the ids involved. ``http_status`` is the
status the HTTP layer should use when it maps the error to a problem-details response.

A method that raises one of these errors has changed nothing: the engine checks every
precondition before it mutates state or emits an event.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "DuplicateTask",
    "InUse",
    "InvalidArgument",
    "InvalidConfig",
    "InvalidExpression",
    "InvalidLevel",
    "InvalidPolicy",
    "InvalidSkill",
    "OfferExpired",
    "OfferNotFound",
    "QueueClosed",
    "QueueFull",
    "RoutingError",
    "StatusChangeNotAllowed",
    "TaskNotAssignedToAgent",
    "TaskStateConflict",
    "UnknownAgent",
    "UnknownPolicy",
    "UnknownQueue",
    "UnknownTask",
]


class RoutingError(Exception):
    """Base class: ``code`` (machine), ``message`` (human), ``details`` (ids and values)."""

    code: ClassVar[str] = "routing_error"
    http_status: ClassVar[int] = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": dict(self.details)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"


# --- 404: something named does not exist ------------------------------------------------


class UnknownAgent(RoutingError):
    code = "unknown_agent"
    http_status = 404


class UnknownQueue(RoutingError):
    code = "unknown_queue"
    http_status = 404


class UnknownTask(RoutingError):
    code = "unknown_task"
    http_status = 404


class UnknownPolicy(RoutingError):
    code = "unknown_policy"
    http_status = 404


class OfferNotFound(RoutingError):
    """No offer of this task was ever made to this agent with this token."""

    code = "offer_not_found"
    http_status = 404


# --- 422: malformed input ------------------------------------------------------------------


class InvalidArgument(RoutingError):
    code = "invalid_argument"
    http_status = 422


class InvalidSkill(RoutingError):
    """A skill name is malformed or not in the tenant's skill catalogue."""

    code = "invalid_skill"
    http_status = 422


class InvalidLevel(RoutingError):
    """A skill level is not an integer 1–5 (0–5 inside requirement expressions)."""

    code = "invalid_level"
    http_status = 422


class InvalidExpression(RoutingError):
    """A requirement expression does not parse."""

    code = "invalid_expression"
    http_status = 422


class InvalidConfig(RoutingError):
    """A queue, agent or setting has an invalid value (unknown mode, negative timeout …)."""

    code = "invalid_config"
    http_status = 422


class InvalidPolicy(RoutingError):
    """A routing policy or exception rule is invalid.

    ``details["reason"]`` says why: ``missing_queue``, ``missing_policy``, ``loop``,
    ``empty``, ``dangling_expiry``.
    """

    code = "invalid_policy"
    http_status = 422


# --- 409: valid request, wrong moment --------------------------------------------------------


class DuplicateTask(RoutingError):
    code = "duplicate_task"
    http_status = 409


class InUse(RoutingError):
    """A queue, agent or policy cannot be removed while tasks or other config use it."""

    code = "in_use"
    http_status = 409


class StatusChangeNotAllowed(RoutingError):
    code = "status_change_not_allowed"
    http_status = 409


class OfferExpired(RoutingError):
    """The offer timed out, was withdrawn or was superseded (stale fencing token)."""

    code = "offer_expired"
    http_status = 409


class QueueFull(RoutingError):
    code = "queue_full"
    http_status = 409


class QueueClosed(RoutingError):
    code = "queue_closed"
    http_status = 409


class TaskNotAssignedToAgent(RoutingError):
    code = "task_not_assigned_to_agent"
    http_status = 409


class TaskStateConflict(RoutingError):
    """The task is not in a state that allows the operation (e.g. completing a waiting task)."""

    code = "task_state_conflict"
    http_status = 409
