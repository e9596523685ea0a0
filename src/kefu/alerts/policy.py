"""A tenant's early-warning policy and the pure rules of incidents (no I/O).

``tenants.settings["alerts"]`` holds an :class:`AlertSettings`: whether the detector runs, its
thresholds (overrides of :class:`~kefu.alerts.detector.DetectorConfig`), when an alert opens an
incident by itself (``auto_open_score``), where callbacks go, and the texts said and sent.

Incidents cover an *area subtree × category subtree*: a complaint in compound X, category
网络质量/信号覆盖/室内无信号 is covered by an incident on (X's district, 网络质量) and by one on
(X, 网络质量/信号覆盖/室内无信号). Paths are stored as ``/``-joined strings, as work orders store them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator

from kefu.alerts.detector import DetectorConfig
from kefu.alerts.rules import format_path, split_path

#: What a caller from the affected area hears (the ``sms_incident_notice`` self-service leaf).
DEFAULT_ANNOUNCEMENT = "您所在区域的网络故障我们已经知晓，正在抢修，修复后将短信通知您。"
#: SMS to the customers of the incident's complaints when it is fixed; it is also their satisfaction follow-up.
DEFAULT_FIXED_SMS = (
    "【{company}】您反映的{area}{category}问题已修复（工单{number}），给您带来不便敬请谅解。"
    "请回复数字评价：1非常满意 2满意 3一般 4不满意 5非常不满意。"
)
#: SMS to callers who asked, in the IVR, to be told when the fault is fixed.
DEFAULT_SUBSCRIBER_SMS = "【{company}】您所在区域（{area}）的{category}故障已修复，感谢您的耐心等待。"
TEMPLATE_FIELDS = {"company": "示例", "area": "小区", "category": "信号弱", "number": "TS-20260101-000001"}

_DAY = 86400.0
#: Detector settings a tenant may override, with the range each may take (the rest are layout details).
TUNABLE: dict[str, tuple[float, float]] = {
    "threshold": (1.0, 100.0),
    "windows": (60.0, 14 * _DAY),
    "min_count": (1, 1000),
    "cooldown": (60.0, 30 * _DAY),
    "grow_threshold": (0.0, 100.0),
    "half_life_days": (1.0, 365.0),
    "prior_events": (0.01, 1000.0),
    "root_prior_events": (0.01, 1000.0),
    "default_daily_rate": (0.001, 100000.0),
    "overdispersion": (0.0, 10.0),
    "warmup": (0.0, 90 * _DAY),
    "utc_offset": (-14 * 3600.0, 14 * 3600.0),
    "min_speed": (0.01, 1.0),
}

ALERT_STATUSES = ("open", "closed", "incident")
INCIDENT_STATUSES = ("open", "resolved")


class AlertSettings(BaseModel):
    """A tenant's early-warning policy (``tenants.settings["alerts"]``); every field has a default."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    #: Overrides of the detector's settings, e.g. ``{"threshold": 6, "min_count": 4}`` (times in seconds).
    detector: dict[str, Any] = Field(default_factory=dict)
    #: An alert whose score reaches this opens an incident by itself (None: supervisors decide).
    auto_open_score: float | None = Field(default=None, ge=0, le=300)
    #: Queue (by name) of the callback tasks for customers without a mobile number; unset: the first queue.
    callback_queue: str | None = Field(default=None, min_length=1, max_length=64)
    announcement: str = Field(default=DEFAULT_ANNOUNCEMENT, min_length=1, max_length=300)
    fixed_sms: str = Field(default=DEFAULT_FIXED_SMS, min_length=1, max_length=400)
    subscriber_sms: str = Field(default=DEFAULT_SUBSCRIBER_SMS, min_length=1, max_length=400)
    #: Complaints older than this when the detector reads them only teach the baseline (no alerts on
    #: stale bursts after a long outage or on the first run over an existing history).
    learn_older_than_hours: float = Field(default=24.0, ge=0, le=24 * 90)
    #: After a change of the detector settings the baseline is rebuilt from this many days of complaints.
    rebuild_days: int = Field(default=28, ge=1, le=365)

    @field_validator("detector")
    @classmethod
    def _detector(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(TUNABLE))
        if unknown:
            raise ValueError(f"unknown detector setting {unknown[0]!r}; known: {', '.join(TUNABLE)}")
        for key, item in value.items():
            items = item if key == "windows" and isinstance(item, list) else [item]
            if not items or not all(
                isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in items
            ):
                raise ValueError(f"detector setting {key!r} must be a number" + (" list" if key == "windows" else ""))
            low, high = TUNABLE[key]
            if not all(low <= x <= high for x in items):
                raise ValueError(f"detector setting {key!r} must lie between {low:g} and {high:g}")
            if key == "min_count" and not isinstance(item, int):
                raise ValueError("detector setting 'min_count' must be a whole number")
        DetectorConfig.from_dict(value)  # raises ValueError with the reason
        return value

    @field_validator("fixed_sms", "subscriber_sms")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            value.format(**TEMPLATE_FIELDS)
        except (KeyError, IndexError, ValueError) as exc:
            fields = "{company}, {area}, {category}, {number}"
            raise ValueError(f"the SMS text may use only {fields} ({exc})") from None
        return value

    @classmethod
    def of(cls, tenant_settings: dict[str, Any] | None) -> AlertSettings:
        return cls.model_validate((tenant_settings or {}).get("alerts", {}))

    def detector_config(self, timezone: str) -> DetectorConfig:
        """The detector's settings: defaults, the tenant's local time for its weekly profile, the overrides."""
        values: dict[str, Any] = {"utc_offset": utc_offset(timezone)}
        values.update(self.detector)
        return DetectorConfig.from_dict(values)


def utc_offset(timezone: str) -> float:
    """The zone's standard offset in seconds (stable across the year, so the detector state stays valid)."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return 0.0
    winter = datetime(2026, 1, 15, 12).replace(tzinfo=zone).utcoffset()
    summer = datetime(2026, 7, 15, 12).replace(tzinfo=zone).utcoffset()
    offsets = [o.total_seconds() for o in (winter, summer) if o is not None]
    return min(offsets) if offsets else 0.0


# --------------------------------------------------------------------------- paths and coverage


def normal_path(text: str | tuple[str, ...]) -> str:
    """``"广东省 / 深圳市"`` → ``"广东省/深圳市"`` (the form work orders store)."""
    return format_path(split_path(text))


def path_under(path: str, scope: str) -> bool:
    """``path`` is ``scope`` or lies below it."""
    return bool(scope) and (path == scope or path.startswith(scope + "/"))


def covers(area_scope: str, category_scope: str, area: str, category: str) -> bool:
    return path_under(area, area_scope) and path_under(category, category_scope)


T = TypeVar("T")


def most_specific(candidates: Iterable[T], key: Any) -> T | None:
    """The candidate with the deepest (area, category) scope; ``key(c)`` gives ``(area, category, opened_at)``."""
    best = None
    best_key: tuple[int, int, Any] | None = None
    for c in candidates:
        area, category, opened = key(c)
        k = (area.count("/"), category.count("/"), opened)
        if best_key is None or k > best_key:
            best, best_key = c, k
    return best


def leaf(path: str) -> str:
    return path.rsplit("/", 1)[-1] if path else ""


def incident_title(area_path: str, category_path: str) -> str:
    """``"科技园小区 室内无信号 群体故障"``: what the master order is called."""
    return f"{leaf(area_path)} {leaf(category_path)} 群体故障"[:200]


def incident_description(area_path: str, category_path: str, count: int, expected: float, score: float) -> str:
    return (
        f"预警：{area_path} 的「{category_path}」投诉 {count} 件，期望 {expected:.2f} 件（得分 {score:.1f}）。"
        "本单为群体故障主单，相关投诉已关联，修复后统一回复并通知客户。"
    )


def is_mobile(e164: str) -> bool:
    """A number that can receive an SMS (mobile, or a number whose type cannot be told apart from one)."""
    try:
        parsed = phonenumbers.parse(e164, "CN")
    except phonenumbers.NumberParseException:
        return False
    kind = phonenumbers.number_type(parsed)
    return kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def fill(template: str, **fields: str) -> str:
    """The SMS text with its fields filled in, cut to the SMS limit."""
    return template.format(**{**TEMPLATE_FIELDS, **fields})[:500]
