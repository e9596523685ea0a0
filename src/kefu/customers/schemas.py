"""API shapes of the customers domain. Outputs are masked; only the reveal endpoint returns clear text."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field

from kefu.core.schemas import Input, Output


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": list(examples)})


class AreaOut(Output):
    id: uuid.UUID
    parent_id: uuid.UUID | None
    name: str
    code: str | None
    level: int
    path: str


class AreaCreate(Input):
    model_config = _examples({"name": "南山区", "code": "440305"})

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^/]+$")
    code: str | None = Field(default=None, max_length=40)
    parent_id: uuid.UUID | None = None


class CustomerView(Output):
    """A customer as agents see it: PII masked (``138****1234``)."""

    id: uuid.UUID
    name: str
    phones: list[str]
    id_number: str
    address: str
    area_id: uuid.UUID | None
    area_path: str | None
    plan: str
    star_level: int
    credit_rating: str
    vip: bool
    customer_since: datetime | None
    tenure_months: int
    masked: bool = True


class CustomerCreate(Input):
    model_config = _examples(
        {
            "name": "张伟",
            "phones": ["13812341234"],
            "id_number": "110101199003071234",
            "address": "广东省深圳市南山区科技园1号",
            "plan": "畅享套餐 128元",
            "star_level": 4,
            "credit_rating": "AA",
            "vip": False,
            "customer_since": "2019-05-01T00:00:00Z",
        }
    )

    name: str = Field(min_length=1, max_length=100)
    phones: list[str] = Field(min_length=1, max_length=5)
    id_number: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=300)
    area_id: uuid.UUID | None = None
    plan: str = Field(default="", max_length=100)
    star_level: int = Field(default=0, ge=0, le=7)
    credit_rating: Literal["AAA", "AA", "A", "B", "C", "D"] = "B"
    vip: bool = False
    customer_since: AwareDatetime | None = None


class CustomerUpdate(Input):
    model_config = _examples({"plan": "5G 畅享 198元", "star_level": 5, "vip": True})

    name: str | None = Field(default=None, min_length=1, max_length=100)
    phones: list[str] | None = Field(default=None, min_length=1, max_length=5)
    id_number: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=300)
    area_id: uuid.UUID | None = None
    plan: str | None = Field(default=None, max_length=100)
    star_level: int | None = Field(default=None, ge=0, le=7)
    credit_rating: Literal["AAA", "AA", "A", "B", "C", "D"] | None = None
    vip: bool | None = None
    customer_since: AwareDatetime | None = None


class RevealRequest(Input):
    model_config = _examples(
        {
            "fields": ["phones"],
            "reason": "客户要求核对登记号码",
        }
    )

    fields: list[Literal["name", "phones", "id_number", "address"]] = Field(min_length=1, max_length=4)
    reason: str = Field(min_length=4, max_length=300)
    justification_type: Literal["call", "work_order"] | None = None
    justification_id: uuid.UUID | None = None


class RevealOut(Output):
    id: uuid.UUID
    fields: dict[str, Any]
    masked: bool = False
