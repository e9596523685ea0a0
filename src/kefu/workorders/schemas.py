"""API shapes of the work-orders domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import AliasChoices, AwareDatetime, ConfigDict, Field

from kefu.core.schemas import Input, Output

_EXAMPLE_ID = "0190a0c0-0000-7000-8000-000000000001"


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": list(examples)})


Resolution = Literal["resolved", "partly_resolved", "unresolved"]
Channel = Literal["phone", "sms", "web", "app", "email", "letter", "visit", "regulator"]


class ResolveNow(Input):
    resolution: Resolution
    reply: str = Field(min_length=1, max_length=2000)


class WorkOrderCreate(Input):
    model_config = _examples(
        {
            "title": "不知情定制增值业务扣费 35 元",
            "category_id": _EXAMPLE_ID,
            "priority": 2,
            "channel": "phone",
            "caller": "+8613812341234",
            "description": "客户称未订购彩铃业务，本月被扣 35 元。",
        }
    )

    title: str = Field(min_length=1, max_length=200)
    category_id: uuid.UUID
    description: str = Field(default="", max_length=5000)
    priority: int = Field(default=2, ge=1, le=4)
    channel: Channel = "phone"
    customer_id: uuid.UUID | None = None
    caller: str | None = Field(default=None, max_length=32, description="Calling number (E.164).")
    source_call_id: uuid.UUID | None = None
    area_id: uuid.UUID | None = None
    threatens_escalation: bool = False
    dispatch: Literal["auto"] | None = Field(default=None, description="'auto': dispatch by the rules now.")
    department_id: uuid.UUID | None = Field(default=None, description="Dispatch to this department now.")
    resolve_now: ResolveNow | None = Field(default=None, description="Resolved during the call (intercepted).")


class WorkOrderUpdate(Input):
    model_config = _examples({"priority": 3, "threatens_escalation": True})

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    priority: int | None = Field(default=None, ge=1, le=4)
    category_id: uuid.UUID | None = None
    threatens_escalation: bool | None = None


class DispatchInput(Input):
    model_config = _examples({"department_id": _EXAMPLE_ID, "reason": "室分故障，转网络部"})

    department_id: uuid.UUID | None = Field(default=None, description="Omit to dispatch by the rules.")
    reason: str | None = Field(default=None, max_length=500)


class ReasonInput(Input):
    model_config = _examples({"reason": "需客户提供缴费凭证"})

    reason: str = Field(min_length=1, max_length=500)


class EmptyInput(Input):
    model_config = _examples({})


class ReplyInput(Input):
    model_config = _examples({"resolution": "resolved", "reply": "已为客户退订彩铃业务并退还 35 元。"})

    resolution: Resolution
    reply: str = Field(min_length=1, max_length=5000)
    verification_result: Literal["upheld", "charge_valid"] | None = None


class InterceptInput(Input):
    model_config = _examples({"resolution": "resolved", "reply": "已当场解释计费规则，客户认可。"})

    resolution: Resolution
    reply: str = Field(min_length=1, max_length=5000)


class CommentInput(Input):
    model_config = _examples({"text": "已电话联系客户，约定明日上门。"})

    text: str = Field(min_length=1, max_length=500)


class MergeInput(Input):
    model_config = _examples({"into_id": _EXAMPLE_ID, "reason": "同一客户重复来电"})

    into_id: uuid.UUID
    reason: str | None = Field(default=None, max_length=500)


class LinkInput(Input):
    model_config = _examples({"other_id": _EXAMPLE_ID, "kind": "incident"})

    other_id: uuid.UUID
    kind: Literal["related", "duplicate", "incident"]


class SubOrderInput(Input):
    model_config = _examples({"department_id": _EXAMPLE_ID, "description": "请核查该小区室分设备告警"})

    department_id: uuid.UUID
    description: str = Field(min_length=1, max_length=2000)
    title: str | None = Field(default=None, max_length=200)


class AttachmentInput(Input):
    model_config = _examples({"filename": "bill.txt", "content_type": "text/plain", "content_base64": "5Zu+54mH"})

    filename: str = Field(min_length=1, max_length=200)
    content_type: str = Field(min_length=1, max_length=100)
    content_base64: str = Field(min_length=1, max_length=720_000)


class FollowUpInput(Input):
    model_config = _examples({"channel": "call"})

    channel: Literal["sms", "call"] = "sms"


class FollowUpAnswer(Input):
    model_config = _examples({"answer": "satisfied", "note": "客户表示满意"})

    answer: Literal["very_satisfied", "satisfied", "neutral", "unsatisfied", "very_unsatisfied", "no_answer"]
    note: str = Field(default="", max_length=500)


class RefundInput(Input):
    model_config = _examples(
        {
            "amount": "35.00",
            "charge_type": "value_added_service",
            "charged_at": "2026-11-01T00:00:00Z",
            "description": "彩铃功能费",
        }
    )

    amount: Decimal = Field(gt=0, le=100000, max_digits=9, decimal_places=2)
    charge_type: Literal["value_added_service", "data", "voice", "sms", "roaming", "package", "broadband", "other"]
    charged_at: AwareDatetime | None = None
    description: str = Field(default="", max_length=500)


class RefundDecisionInput(Input):
    model_config = _examples({"approve": True, "note": "客户信用良好"})

    approve: bool
    note: str = Field(default="", max_length=300)


# --------------------------------------------------------------------------- outputs


class WorkOrderOut(Output):
    id: uuid.UUID
    number: str
    kind: str
    status: str
    priority: int
    channel: str
    title: str
    category_id: uuid.UUID | None
    category_path: str
    customer_id: uuid.UUID | None
    caller: str = Field(validation_alias=AliasChoices("caller_masked", "caller"), description="Masked calling number.")
    source_call_id: uuid.UUID | None
    area_path: str
    department_id: uuid.UUID | None
    assignee_id: uuid.UUID | None
    parent_id: uuid.UUID | None
    master_id: uuid.UUID | None
    merged_into_id: uuid.UUID | None
    vip: bool
    threatens_escalation: bool
    is_repeat: bool
    repeat_of_id: uuid.UUID | None
    intercepted: bool
    resolution: str | None
    satisfaction: str | None
    created_at: datetime
    responded_at: datetime | None
    replied_at: datetime | None
    archived_at: datetime | None
    response_due_at: datetime | None
    resolution_due_at: datetime | None
    outer_due_at: datetime | None
    next_deadline_at: datetime | None
    handoffs: int
    on_time: bool | None


class HistoryOut(Output):
    id: uuid.UUID
    occurred_at: datetime
    actor_type: str
    actor_name: str
    action: str
    from_status: str | None
    to_status: str | None
    from_department_id: uuid.UUID | None
    to_department_id: uuid.UUID | None
    reason: str | None
    details: dict[str, Any]


class LinkOut(Output):
    kind: str
    direction: str
    order_id: uuid.UUID
    number: str


class FollowUpOut(Output):
    id: uuid.UUID
    channel: str
    status: str
    sent_at: datetime
    answered_at: datetime | None
    answer: str | None


class RefundOut(Output):
    id: uuid.UUID
    order_id: uuid.UUID
    customer_id: uuid.UUID | None
    agent_name: str
    amount_cents: int
    charge_type: str
    outcome: str
    rule_name: str
    explanation: dict[str, Any]
    credit_note_id: uuid.UUID | None
    verification_order_id: uuid.UUID | None
    decided_at: datetime
    approved_at: datetime | None


class SlaEventOut(Output):
    kind: str
    target: str
    due_at: datetime
    occurred_at: datetime


class AttachmentOut(Output):
    id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime


class WorkOrderDetailOut(WorkOrderOut):
    description: str
    reply: str | None
    paused_seconds: int
    handling_seconds: int | None
    handling_day_seconds: int | None
    history: list[HistoryOut]
    links: list[LinkOut]
    sub_orders: list[WorkOrderOut]
    follow_ups: list[FollowUpOut]
    refunds: list[RefundOut]
    sla_events: list[SlaEventOut]
    attachments: list[AttachmentOut]
    allowed_actions: list[str]


# --------------------------------------------------------------------------- configuration


class CategoryOut(Output):
    id: uuid.UUID
    parent_id: uuid.UUID | None
    name: str
    code: str | None
    level: int
    path: str
    position: int
    is_active: bool


class CategoryCreate(Input):
    model_config = _examples({"name": "不知情定制", "code": "FEE-VAS"})

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^/]+$")
    parent_id: uuid.UUID | None = None
    code: str | None = Field(default=None, max_length=40)
    position: int = Field(default=0, ge=0, le=100000)


class CategoryUpdate(Input):
    model_config = _examples({"is_active": False})

    is_active: bool | None = None
    position: int | None = Field(default=None, ge=0, le=100000)
    code: str | None = Field(default=None, max_length=40)


class DispatchRuleOut(Output):
    id: uuid.UUID
    position: int
    name: str
    category_id: uuid.UUID | None
    area_id: uuid.UUID | None
    department_id: uuid.UUID
    is_active: bool


class DispatchRuleInput(Input):
    model_config = _examples(
        {
            "department_id": _EXAMPLE_ID,
            "category_id": None,
            "area_id": None,
            "position": 100,
            "name": "网络质量 → 网络部",
        }
    )

    department_id: uuid.UUID
    category_id: uuid.UUID | None = None
    area_id: uuid.UUID | None = None
    position: int = Field(default=100, ge=0, le=100000)
    name: str = Field(default="", max_length=100)
    is_active: bool = True


class CalendarOut(Output):
    id: uuid.UUID
    name: str
    timezone: str
    week: dict[str, Any]
    holidays: list[Any]
    workdays: list[Any]


class CalendarInput(Input):
    model_config = _examples(
        {
            "name": "工作日 9-18",
            "timezone": "Asia/Shanghai",
            "week": {d: [["09:00", "12:00"], ["13:30", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
            "holidays": ["2026-10-01", "2026-10-02"],
            "workdays": ["2026-10-10"],
        }
    )

    name: str = Field(min_length=1, max_length=100)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    week: dict[str, list[list[str]]]
    holidays: list[str] = Field(default_factory=list, max_length=400)
    workdays: list[str] = Field(default_factory=list, max_length=100)


class SlaPolicyOut(Output):
    id: uuid.UUID
    name: str
    position: int
    is_default: bool
    is_active: bool
    conditions: dict[str, Any]
    response_minutes: int
    resolution_minutes: int
    calendar_id: uuid.UUID | None
    warn_ratio: float
    escalations: list[Any]


class SlaPolicyInput(Input):
    model_config = _examples(
        {
            "name": "VIP 投诉",
            "position": 10,
            "conditions": {"vip": True},
            "response_minutes": 30,
            "resolution_minutes": 480,
            "warn_ratio": 0.8,
            "escalations": ["notify", "raise_priority"],
        }
    )

    name: str = Field(min_length=1, max_length=100)
    position: int = Field(default=100, ge=0, le=100000)
    is_default: bool = False
    is_active: bool = True
    conditions: dict[str, Any] = Field(default_factory=dict)
    response_minutes: int = Field(ge=1, le=525600)
    resolution_minutes: int = Field(ge=1, le=525600)
    calendar_id: uuid.UUID | None = None
    warn_ratio: float = Field(default=0.8, gt=0, lt=1)
    escalations: list[Literal["notify", "raise_priority", "reassign_supervisor"]] = Field(default_factory=list)


class AuthorityPolicyOut(Output):
    id: uuid.UUID
    name: str
    position: int
    is_active: bool
    conditions: list[Any]
    outcome: str
    note: str


class AuthorityPolicyInput(Input):
    model_config = _examples(
        {
            "name": "增值业务小额先退后查",
            "position": 10,
            "outcome": "approve",
            "conditions": [
                {"field": "charge.type", "op": "==", "value": "value_added_service"},
                {"field": "charge.amount", "op": "<=", "value": 50},
                {"field": "customer.credit_rating", "op": ">=", "value": "A"},
                {"field": "history.refunds_12m", "op": "<", "value": 2},
            ],
        }
    )

    name: str = Field(min_length=1, max_length=100)
    position: int = Field(default=100, ge=0, le=100000)
    is_active: bool = True
    conditions: list[dict[str, Any]] = Field(default_factory=list, max_length=20)
    outcome: Literal["approve", "supervisor", "refuse"]
    note: str = Field(default="", max_length=300)


class ConfigOut(Output):
    number_prefix: str
    repeat_window_days: int
    outer_limit_days: int
    fallback_department_id: uuid.UUID | None
    verification_department_id: uuid.UUID | None
    follow_up_channel: str
    authority_default: str
    agent_daily_budget_cents: int | None
    agent_monthly_budget_cents: int | None
    team_daily_budget_cents: int | None
    team_monthly_budget_cents: int | None
    day_start_hour: int
    day_end_hour: int


class ConfigUpdate(Input):
    model_config = _examples({"repeat_window_days": 90, "outer_limit_days": 15, "agent_daily_budget_cents": 20000})

    number_prefix: str | None = Field(default=None, pattern=r"^[A-Z]{1,8}$")
    repeat_window_days: int | None = Field(default=None, ge=1, le=730)
    outer_limit_days: int | None = Field(default=None, ge=1, le=365)
    fallback_department_id: uuid.UUID | None = None
    verification_department_id: uuid.UUID | None = None
    follow_up_channel: Literal["sms", "call"] | None = None
    authority_default: Literal["approve", "supervisor", "refuse"] | None = None
    agent_daily_budget_cents: int | None = Field(default=None, ge=0, le=10**9)
    agent_monthly_budget_cents: int | None = Field(default=None, ge=0, le=10**10)
    team_daily_budget_cents: int | None = Field(default=None, ge=0, le=10**10)
    team_monthly_budget_cents: int | None = Field(default=None, ge=0, le=10**11)
    day_start_hour: int | None = Field(default=None, ge=0, le=23)
    day_end_hour: int | None = Field(default=None, ge=1, le=24)


class KpiRowOut(Output):
    key: str
    label: str
    counts: dict[str, int]
    metrics: dict[str, float | None]


class KpiOut(Output):
    model_config = ConfigDict(populate_by_name=True)

    start: str = Field(alias="from")
    end: str = Field(alias="to")
    group_by: str
    rows: list[KpiRowOut]
    total: KpiRowOut


class KpiDashboardOut(Output):
    groups: KpiOut
    days: KpiOut
