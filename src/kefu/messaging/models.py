"""Tables of the messaging domain: the SMS outbox and received messages.

Phone numbers and message texts are customer data: stored sealed with the tenant's PII key
(``ctx.pii(tenant).seal(..., row_id=id, field=...)``), found through a blind index, shown masked.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, JSONType, TenantOwned


class SmsMessage(TenantOwned, Base):
    """One outgoing SMS, queued in the transaction of the change that caused it (the outbox).

    The relay works on rows whose ``next_attempt_at`` is due: queued and failed rows, and
    ``sending`` rows whose lease ran out (a crashed relay) — for those ``next_attempt_at`` *is* the
    lease expiry. Finished rows (sent, delivered, dead) have no ``next_attempt_at``.
    """

    __tablename__ = "sms_outbox"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "dedupe_key"),
        sa.Index("ix_sms_outbox_due", "tenant_id", "next_attempt_at"),
        sa.Index("ix_sms_outbox_number", "tenant_id", "to_number_index", "created_at"),
        sa.Index("ix_sms_outbox_reference", "tenant_id", "reference_type", "reference_id"),
        sa.Index("ix_sms_outbox_provider_id", "tenant_id", "provider_message_id"),
    )

    #: Why it is sent: missed_call_notice, callback_promise, survey, follow_up, incident_fixed, test, …
    purpose: Mapped[str] = mapped_column(sa.String(40))
    to_number_enc: Mapped[str] = mapped_column(sa.Text)
    to_number_index: Mapped[str] = mapped_column(sa.String(64))
    to_number_masked: Mapped[str] = mapped_column(sa.String(32))
    body_enc: Mapped[str] = mapped_column(sa.Text)
    sender_id: Mapped[str] = mapped_column(sa.String(20))
    #: What caused it (``call``, ``work_order``, ``incident`` …) and that row's id.
    reference_type: Mapped[str | None] = mapped_column(sa.String(40))
    reference_id: Mapped[str | None] = mapped_column(sa.String(64))
    #: Queueing the same key twice in a tenant returns the first message.
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(200))
    expects_reply: Mapped[bool] = mapped_column(default=False)

    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(sa.String(80))
    lease_expires_at: Mapped[datetime | None]
    #: Bumped by every claim and never reset: a result carrying an older fence is ignored.
    fence: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: Bumped when staff re-send a message the provider had accepted (changes the idempotency key).
    generation: Mapped[int] = mapped_column(default=0)
    provider: Mapped[str | None] = mapped_column(sa.String(20))
    provider_message_id: Mapped[str | None] = mapped_column(sa.String(100))
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    #: Status changes: ``[{"at", "status", "attempt", "error"?, "by"?}, …]`` (at most 50 kept).
    history: Mapped[list[Any]] = mapped_column(JSONType, default=list)

    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


class SmsInbound(TenantOwned, Base):
    """A received SMS (a reply to a survey or follow-up, or anything else), matched or not."""

    __tablename__ = "sms_inbound"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "provider_message_id"),
        sa.Index("ix_sms_inbound_number", "tenant_id", "from_number_index", "received_at"),
    )

    from_number_enc: Mapped[str] = mapped_column(sa.Text)
    from_number_index: Mapped[str] = mapped_column(sa.String(64))
    from_number_masked: Mapped[str] = mapped_column(sa.String(32))
    body_enc: Mapped[str | None] = mapped_column(sa.Text)
    provider_message_id: Mapped[str | None] = mapped_column(sa.String(100))
    matched_message_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("sms_outbox.id", ondelete="SET NULL"), index=True
    )
    #: unmatched | no_handler | handled | handler_failed
    status: Mapped[str] = mapped_column(sa.String(16))
    handler_error: Mapped[str | None] = mapped_column(sa.String(500))
    received_at: Mapped[datetime]
