"""API shapes of the routing domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from kefu.core.schemas import Input, Output


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": list(examples)})


SKILL_NAME = r"^[a-z][a-z0-9_]{0,39}$"
Mode = Literal["longest_idle", "round_robin", "best_skill", "least_occupied", "fewest_calls", "ring_all", "linear"]


class SkillCreate(Input):
    model_config = _examples({"name": "billing", "description": "账单与扣费"})

    name: str = Field(pattern=SKILL_NAME, description="lowercase letters, digits and '_'")
    description: str = Field(default="", max_length=200)


class SkillOut(Output):
    id: uuid.UUID
    name: str
    description: str


HoursSpec = Annotated[
    str,
    Field(
        max_length=40,
        pattern=r"^[a-z]{3}(-[a-z]{3})? \d{2}:\d{2}-\d{2}:\d{2}$",
        description="e.g. 'mon-fri 09:00-18:00'",
    ),
]


class ExceptionRuleIn(Input):
    trigger: Literal["queue_length", "wait_time", "closed", "no_agents"]
    action: Literal["overflow", "callback_offer", "voicemail", "announce", "cancel"]
    threshold: float = Field(default=0.0, ge=0, le=86400)
    target_queue_id: uuid.UUID | None = None
    message: str = Field(default="", max_length=300)


class QueueSettings(Input):
    eligibility: str = Field(default="", max_length=500, description="requirement expression, e.g. 'billing>=2'")
    mode: Mode = "longest_idle"
    wrap_up_s: float = Field(default=0, ge=0, le=3600)
    sl_threshold_s: float = Field(default=20, gt=0, le=3600)
    max_length: int | None = Field(default=None, ge=1, le=100_000)
    offer_timeout_s: float = Field(default=20, gt=0, le=600)
    hours: list[HoursSpec] | None = Field(default=None, max_length=50)
    exception_rules: list[ExceptionRuleIn] = Field(default_factory=list, max_length=10)


class QueueCreate(QueueSettings):
    model_config = _examples(
        {"name": "billing", "eligibility": "billing>=2", "mode": "longest_idle", "wrap_up_s": 10, "sl_threshold_s": 20}
    )

    name: str = Field(min_length=1, max_length=64)


class QueueUpdate(Input):
    model_config = _examples({"mode": "best_skill", "wrap_up_s": 15})

    name: str | None = Field(default=None, min_length=1, max_length=64)
    eligibility: str | None = Field(default=None, max_length=500)
    mode: Mode | None = None
    wrap_up_s: float | None = Field(default=None, ge=0, le=3600)
    sl_threshold_s: float | None = Field(default=None, gt=0, le=3600)
    max_length: int | None = Field(default=None, ge=1, le=100_000)
    offer_timeout_s: float | None = Field(default=None, gt=0, le=600)
    hours: list[HoursSpec] | None = Field(default=None, max_length=50)
    exception_rules: list[ExceptionRuleIn] | None = Field(default=None, max_length=10)


class QueueOut(Output):
    id: uuid.UUID
    name: str
    config: dict[str, Any]
    created_at: datetime


class AgentProfileIn(Input):
    model_config = _examples({"skills": {"billing": 3, "general": 2}, "capacity": {"voice": 1}})

    skills: dict[str, int] = Field(default_factory=dict, max_length=100)
    capacity: dict[str, int] = Field(default_factory=lambda: {"voice": 1}, max_length=5)


class AgentProfileOut(Output):
    user_id: uuid.UUID
    skills: dict[str, int]
    capacity: dict[str, int]


class PolicyStepIn(Input):
    queue_id: uuid.UUID
    priority: int | None = Field(default=None, ge=-1000, le=1000)
    requirements: str = Field(default="", max_length=500)
    expires_after_s: float | None = Field(default=None, gt=0, le=86400)


class PolicyCreate(Input):
    model_config = _examples(
        {
            "name": "vip-first",
            "steps": [
                {
                    "queue_id": "00000000-0000-7000-8000-000000000001",
                    "priority": 5,
                    "requirements": "billing>=4",
                    "expires_after_s": 30,
                }
            ],
        }
    )

    name: str = Field(min_length=1, max_length=64)
    steps: list[PolicyStepIn] = Field(min_length=1, max_length=10)
    fallback_policy_id: uuid.UUID | None = None


class PolicyUpdate(Input):
    model_config = _examples({"steps": [{"queue_id": "00000000-0000-7000-8000-000000000001"}]})

    name: str | None = Field(default=None, min_length=1, max_length=64)
    steps: list[PolicyStepIn] | None = Field(default=None, min_length=1, max_length=10)
    fallback_policy_id: uuid.UUID | None = None


class PolicyOut(Output):
    id: uuid.UUID
    name: str
    definition: dict[str, Any]


class StatusChange(Input):
    model_config = _examples({"status": "available"}, {"status": "break", "reason": "lunch"})

    status: Literal["offline", "available", "break"]
    reason: str | None = Field(default=None, max_length=40)


class TaskCreate(Input):
    """A task for the router that is not a live call: a callback, a work item, a chat."""

    model_config = _examples(
        {
            "queue_id": "00000000-0000-7000-8000-000000000001",
            "kind": "callback",
            "priority": 0,
            "attributes": {"number": "138****1234"},
        }
    )

    queue_id: uuid.UUID | None = None
    policy_id: uuid.UUID | None = None
    kind: Literal["callback", "work_item", "chat", "email"] = "work_item"
    channel: Literal["voice", "chat", "email", "work"] = "voice"
    priority: int = Field(default=0, ge=-1000, le=1000)
    attributes: dict[str, str | int | float | bool] = Field(default_factory=dict, max_length=30)
    enqueued_at: datetime | None = Field(default=None, description="keep an earlier place in line (callbacks)")


class OfferAnswer(Input):
    model_config = _examples({"token": 1})

    token: int = Field(ge=0, description="the offer's fencing token")


class TaskOut(Output):
    task_id: str
    state: str
    info: dict[str, Any] = Field(default_factory=dict)
