"""API shapes of early warning and incidents."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from kefu.core.schemas import Input, Output


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": list(examples)})


class AlertOut(Output):
    id: uuid.UUID
    area_path: str
    category_path: str
    start_at: datetime
    detected_at: datetime
    last_seen_at: datetime
    count: int
    expected: float
    score: float
    window_seconds: float
    status: str
    closed_at: datetime | None
    incident_id: uuid.UUID | None
    folded: list[Any]


class AlertPointOut(Output):
    kind: str
    at: datetime
    count: int
    expected: float
    score: float
    area_path: str
    category_path: str


class IncidentOut(Output):
    id: uuid.UUID
    alert_id: uuid.UUID
    master_order_id: uuid.UUID
    area_path: str
    category_path: str
    department_id: uuid.UUID | None
    status: str
    opened_how: str
    opened_by_name: str
    opened_at: datetime
    resolved_by_name: str | None
    resolved_at: datetime | None
    resolution_note: str | None
    linked_orders: int
    handoffs_saved: int
    intercepted_calls: int
    sms_sent: int
    callbacks: int


class AlertDetailOut(AlertOut):
    timeline: list[AlertPointOut]
    incident: IncidentOut | None


class MemberOut(Output):
    """A complaint linked to the incident (no customer data beyond the masked calling number)."""

    id: uuid.UUID
    number: str
    status: str
    title: str
    area_path: str
    category_path: str
    caller: str
    intercepted: bool
    created_at: datetime


class SubscriberOut(Output):
    """A caller who asked to be told when the fault is fixed; the number is masked."""

    id: uuid.UUID
    number: str
    call_id: uuid.UUID | None
    created_at: datetime
    notified_at: datetime | None


class IncidentDetailOut(IncidentOut):
    master_number: str | None
    master_status: str | None
    member_count: int
    members: list[MemberOut]
    subscribers: list[SubscriberOut]
    #: What resolving did, per "channel:status" (sms:queued, callback:created, none:no_contact …).
    notices: dict[str, int]


class IncidentResolveInput(Input):
    model_config = _examples({"resolution": "resolved", "note": "室分系统故障已修复，信号恢复正常。"})

    note: str = Field(min_length=1, max_length=2000, description="What was done: the reply every member gets.")
    resolution: Literal["resolved", "partly_resolved", "unresolved"] = "resolved"


class AlertSettingsUpdate(Input):
    model_config = _examples({"auto_open_score": 12.0, "detector": {"threshold": 6.0, "min_count": 4}})

    enabled: bool | None = None
    detector: dict[str, float | int | list[float]] | None = Field(default=None, max_length=20)
    auto_open_score: float | None = Field(default=None, ge=0, le=300)
    callback_queue: str | None = Field(default=None, min_length=1, max_length=64)
    announcement: str | None = Field(default=None, min_length=1, max_length=300)
    fixed_sms: str | None = Field(default=None, min_length=1, max_length=400)
    subscriber_sms: str | None = Field(default=None, min_length=1, max_length=400)
    learn_older_than_hours: float | None = Field(default=None, ge=0, le=24 * 90)
    rebuild_days: int | None = Field(default=None, ge=1, le=365)
