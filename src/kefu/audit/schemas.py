"""API shapes of the audit domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from kefu.core.schemas import Output


class AuditEventOut(Output):
    seq: int
    occurred_at: datetime
    actor_type: str
    actor_id: uuid.UUID | None
    actor_name: str
    action: str
    outcome: str
    target_type: str | None
    target_id: str | None
    ip: str | None
    details: dict[str, Any]
    hash: str


class AuditEventPage(Output):
    items: list[AuditEventOut]
    next_before_seq: int | None


class ChainReportOut(Output):
    ok: bool
    events: int
    broken_seq: int | None
    problem: str | None
