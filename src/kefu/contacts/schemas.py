"""API shapes of the contacts domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from kefu.core.schemas import Input, Output


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": list(examples)})


class NumberCreate(Input):
    model_config = _examples({"number": "4008123456", "label": "客服热线"})

    number: str = Field(min_length=3, max_length=24)
    label: str = Field(default="", max_length=100)
    flow_id: uuid.UUID | None = None
    outbound_caller_id: bool = True


class NumberUpdate(Input):
    model_config = _examples({"label": "投诉专线"})

    label: str | None = Field(default=None, max_length=100)
    flow_id: uuid.UUID | None = None
    outbound_caller_id: bool | None = None


class NumberOut(Output):
    id: uuid.UUID
    number: str
    label: str
    flow_id: uuid.UUID | None
    outbound_caller_id: bool


class FlowSave(Input):
    model_config = _examples(
        {
            "name": "主菜单",
            "definition": {"start": "welcome", "nodes": {"welcome": {"type": "hangup", "prompt": {"text": "您好"}}}},
        }
    )

    name: str = Field(min_length=1, max_length=64)
    definition: dict[str, Any]


class FlowOut(Output):
    id: uuid.UUID
    flow_key: uuid.UUID
    name: str
    version: int
    is_current: bool
    definition: dict[str, Any]
    created_at: datetime


class CallSettingsUpdate(Input):
    model_config = _examples({"record_calls": True, "missed_call": {"recipients": ["13800000000"]}})

    record_calls: bool | None = None
    missed_call: dict[str, Any] | None = None
    survey: dict[str, Any] | None = None
    wrap_up_codes: list[str] | None = Field(default=None, max_length=50)
    complaint_codes: dict[str, str] | None = Field(default=None, max_length=50)
    self_service_sms: str | None = Field(default=None, max_length=300)


class CallOut(Output):
    id: uuid.UUID
    direction: str
    number_masked: str
    tenant_number: str
    state: str
    outcome: str | None
    queue_id: uuid.UUID | None
    agent_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    started_at: datetime
    queued_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    wait_seconds: float | None
    talk_seconds: float | None
    hold_seconds: float
    wrap_up_code: str | None
    notes: str | None
    survey_score: int | None
    recording_id: uuid.UUID | None


class CallEventOut(Output):
    at: datetime
    type: str
    agent_id: uuid.UUID | None
    data: dict[str, Any]


class CallDetail(CallOut):
    ivr_path: list[Any]
    events: list[CallEventOut]


class TransferRequest(Input):
    model_config = _examples({"queue_id": "00000000-0000-7000-8000-000000000001"})

    queue_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None
    number: str | None = Field(default=None, max_length=24)

    @model_validator(mode="after")
    def _one(self) -> TransferRequest:
        if sum(x is not None for x in (self.queue_id, self.agent_id, self.number)) != 1:
            raise ValueError("name exactly one of queue_id, agent_id or number")
        return self


class ConsultRequest(Input):
    model_config = _examples({"number": "13900000000"})

    agent_id: uuid.UUID | None = None
    number: str | None = Field(default=None, max_length=24)

    @model_validator(mode="after")
    def _one(self) -> ConsultRequest:
        if (self.agent_id is None) == (self.number is None):
            raise ValueError("name exactly one of agent_id or number")
        return self


class WrapUp(Input):
    model_config = _examples({"code": "resolved", "notes": "已解释套餐资费"})

    code: str = Field(min_length=1, max_length=40)
    notes: str = Field(default="", max_length=2000)


class DialRequest(Input):
    model_config = _examples({"number": "13800138000"})

    number: str = Field(min_length=3, max_length=24)


class NumberAssign(Input):
    model_config = _examples(
        {"number": "4008123456", "tenant_id": "00000000-0000-7000-8000-000000000001", "kind": "400"}
    )

    number: str = Field(min_length=3, max_length=24)
    tenant_id: uuid.UUID
    kind: str = Field(default="local", pattern=r"^(local|400|800|mobile)$")
