"""The default billing adapter's table: a credit-note ledger in the database."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, TenantOwned


class CreditNote(TenantOwned, Base):
    """A credit to a customer's account (or the reversal of one, ``reverses_id``). Idempotent per key."""

    __tablename__ = "billing_credit_notes"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "idempotency_key"), sa.UniqueConstraint("tenant_id", "number"))

    number: Mapped[str] = mapped_column(sa.String(40))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3), default="CNY")
    reason: Mapped[str] = mapped_column(sa.String(300))
    reference_type: Mapped[str | None] = mapped_column(sa.String(40))
    reference_id: Mapped[str | None] = mapped_column(sa.String(64))
    idempotency_key: Mapped[str] = mapped_column(sa.String(100))
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    created_at: Mapped[datetime]
