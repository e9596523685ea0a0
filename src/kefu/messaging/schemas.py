"""API shapes of the messaging domain. Phone numbers are always masked in output."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field

from kefu.core.schemas import Input, Output


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": list(examples)})


class SmsMessageOut(Output):
    id: uuid.UUID
    purpose: str
    to_number: str = Field(description="Masked, e.g. 138****1234.")
    body: str = Field(description="The text, with phone numbers in it masked.")
    sender_id: str
    reference_type: str | None
    reference_id: str | None
    dedupe_key: str | None
    expects_reply: bool
    status: str = Field(description="queued, sending, sent, delivered, failed (retry scheduled) or dead.")
    attempts: int
    next_attempt_at: datetime | None
    provider: str | None
    provider_message_id: str | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None


class SmsMessageDetail(SmsMessageOut):
    history: list[dict[str, Any]] = Field(description="Status changes, oldest first (at most 50).")


class SmsInboundOut(Output):
    id: uuid.UUID
    from_number: str = Field(description="Masked, e.g. 138****1234.")
    body: str = Field(description="The text, with phone numbers in it masked.")
    status: str = Field(description="unmatched, no_handler, handled or handler_failed.")
    matched_message_id: uuid.UUID | None
    handler_error: str | None
    provider_message_id: str | None
    received_at: datetime


class DeliveryReport(Input):
    """A provider's delivery report (POST /api/v1/sms/callbacks/{tenant}/delivery, signed)."""

    model_config = _examples(
        {"provider_message_id": "prov-8c1f20", "status": "delivered"},
        {"provider_message_id": "prov-8c1f21", "status": "undelivered", "error": "phone off"},
    )

    provider_message_id: str = Field(min_length=1, max_length=100)
    status: str = Field(
        min_length=1,
        max_length=20,
        description="delivered | failed | undelivered | rejected | expired | accepted | sent …",
    )
    error: str | None = Field(default=None, max_length=300)


class InboundReport(Input):
    """A received SMS forwarded by the provider (POST /api/v1/sms/callbacks/{tenant}/inbound, signed)."""

    model_config = _examples({"provider_message_id": "prov-in-5521", "from_number": "+8613812341234", "body": "1"})

    provider_message_id: str = Field(
        min_length=1, max_length=100, description="The provider's id; a re-sent report with the same id is ignored."
    )
    from_number: str = Field(min_length=3, max_length=32)
    body: str = Field(default="", max_length=1600)


class CallbackAccepted(Output):
    ok: bool = True
    id: uuid.UUID | None = None
    status: str | None = None
