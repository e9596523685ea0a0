"""Pure rules of the contacts domain: call settings, missed-call notices, surveys, default flow."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kefu.core.pii import InvalidPhoneNumber, normalize_phone

#: Call outcomes (``calls.outcome``).
ANSWERED = "answered"
ABANDONED = "abandoned"  # hung up while queued or ringing
IVR_ABANDONED = "ivr_abandoned"  # hung up in the IVR before reaching a queue
AFTER_HOURS = "after_hours"
VOICEMAIL = "voicemail"
CALLBACK = "callback"
TRANSFERRED_OUT = "transferred_out"
SELF_SERVICE = "self_service"
FAILED = "failed"
INTERRUPTED = "interrupted"  # the process stopped while the call was up

#: Outcomes that send the missed-call SMS.
MISSED_OUTCOMES = frozenset({ABANDONED, AFTER_HOURS, VOICEMAIL, FAILED})

DEFAULT_WRAP_UP_CODES = ["resolved", "complaint_created", "information", "callback_promised", "wrong_number", "other"]


class MissedCallSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    #: Staff numbers that get "missed call from X at T".
    recipients: list[str] = Field(default_factory=list, max_length=20)
    #: One notice per caller per this many minutes.
    window_minutes: int = Field(default=30, ge=0, le=24 * 60)
    #: Also tell the caller "we will call you back".
    notify_caller: bool = False
    caller_text: str = Field(default="您好，您刚才的来电我们未能接听，我们将尽快回电。", max_length=300)

    @field_validator("recipients")
    @classmethod
    def _numbers(cls, values: list[str]) -> list[str]:
        out = []
        for value in values:
            try:
                out.append(normalize_phone(value))
            except InvalidPhoneNumber as exc:
                raise ValueError(str(exc)) from None
        return out


class SurveySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: ivr: after the agent hangs up, the caller is asked to press 1–5; sms: a text asks for a reply 1–5.
    mode: str = Field(default="ivr", pattern=r"^(ivr|sms|off)$")
    prompt: str = Field(default="请对本次服务评分，非常满意请按5，不满意请按1。", max_length=300)
    sms_text: str = Field(
        default="请对本次通话服务评分：回复5非常满意、4满意、3一般、2不满意、1非常不满意。", max_length=300
    )


class CallSettings(BaseModel):
    """A tenant's call settings (``tenants.settings["calls"]``)."""

    model_config = ConfigDict(extra="forbid")
    record_calls: bool = True
    missed_call: MissedCallSettings = Field(default_factory=MissedCallSettings)
    survey: SurveySettings = Field(default_factory=SurveySettings)
    wrap_up_codes: list[str] = Field(default_factory=lambda: list(DEFAULT_WRAP_UP_CODES), max_length=50)
    #: Wrap-up code → complaint category path ("网络质量/信号覆盖"): a call wrapped up with such a code is a complaint
    #: for early warning even when no work order is written for it (the agent settled it on the phone).
    complaint_codes: dict[str, str] = Field(default_factory=dict, max_length=50)
    #: Text sent by the ``sms_balance`` self-service leaf.
    self_service_sms: str = Field(default="您好，您的账户余额与账单可在营业厅 App 中随时查询。", max_length=300)

    @model_validator(mode="after")
    def _complaint_codes_are_wrap_up_codes(self) -> CallSettings:
        for code, category in self.complaint_codes.items():
            if code not in self.wrap_up_codes:
                raise ValueError(f"complaint_codes: {code!r} is not one of the wrap-up codes")
            if not category.strip(" /") or len(category) > 400:
                raise ValueError(f"complaint_codes: give {code!r} a category path such as '网络质量/信号覆盖'")
        return self

    @classmethod
    def of(cls, tenant_settings: dict[str, Any] | None) -> CallSettings:
        return cls.model_validate((tenant_settings or {}).get("calls", {}))


def missed_call_text(masked_or_full_number: str, at: datetime, timezone: str) -> str:
    local = at.astimezone(ZoneInfo(timezone))
    return f"未接来电提醒：{masked_or_full_number} 于 {local:%m-%d %H:%M} 来电，请及时回电。"


def survey_score(text: str) -> int | None:
    """A 1–5 score from a reply such as "5", " 4 ", "５", "评分3"; None when it is not one."""
    digits = [ch for ch in text.strip() if ch.isdigit()]
    if len(digits) != 1:
        return None
    value = int(digits[0])  # int() reads full-width digits too
    return value if 1 <= value <= 5 else None


def default_flow(queue_name: str) -> dict[str, Any]:
    """The flow a number gets when its tenant has not configured one: welcome, then the queue."""
    return {
        "start": "welcome",
        "nodes": {
            "welcome": {"type": "play", "prompt": {"text": "您好，欢迎致电，正在为您转接客服代表。"}, "next": "agents"},
            "agents": {
                "type": "queue",
                "queue": queue_name,
                "callback_offer_after": 180,
                "callback_prompt": {"text": "当前排队较长，如需回电请按1，继续等待请按其他键。"},
            },
        },
    }
