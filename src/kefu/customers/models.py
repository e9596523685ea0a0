"""Tables of the customers domain: areas (a hierarchy), customers and their phone numbers.

PII (name, ID number, address, phone numbers) is sealed with the tenant's key
(``core.pii``) and bound to its row and field; equality search goes through HMAC
blind indexes; masked copies are stored for display so lists never decrypt.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, TenantOwned, Timestamps


class Area(TenantOwned, Base):
    """Province / city / district / compound (or any depth): ``path`` joins the names with '/'."""

    __tablename__ = "areas"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "path"),)

    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("areas.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(100))
    code: Mapped[str | None] = mapped_column(sa.String(40))
    #: 1 province, 2 city, 3 district, 4 compound (residential area / cell site) …
    level: Mapped[int] = mapped_column(sa.SmallInteger)
    path: Mapped[str] = mapped_column(sa.String(500))


class Customer(TenantOwned, Timestamps, Base):
    __tablename__ = "customers"
    __table_args__ = (sa.Index("ix_customers_tenant_id_number", "tenant_id", "id_number_index"),)

    name_enc: Mapped[str | None] = mapped_column(sa.Text)
    name_masked: Mapped[str] = mapped_column(sa.String(60), default="")
    id_number_enc: Mapped[str | None] = mapped_column(sa.Text)
    id_number_index: Mapped[str | None] = mapped_column(sa.String(64))
    id_number_masked: Mapped[str] = mapped_column(sa.String(40), default="")
    address_enc: Mapped[str | None] = mapped_column(sa.Text)
    address_masked: Mapped[str] = mapped_column(sa.String(60), default="")
    area_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("areas.id", ondelete="SET NULL"), index=True
    )
    plan: Mapped[str] = mapped_column(sa.String(100), default="")
    #: 0 (准星) … 7 (七星), the operator's star tier.
    star_level: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    #: AAA, AA, A, B, C, D (credit rating of the account).
    credit_rating: Mapped[str] = mapped_column(sa.String(8), default="B")
    vip: Mapped[bool] = mapped_column(default=False)
    #: When the customer relationship started (tenure).
    customer_since: Mapped[datetime | None]


class CustomerPhone(TenantOwned, Base):
    """One phone number of a customer; ``phone_index`` is the HMAC of its E.164 form (screen pop)."""

    __tablename__ = "customer_phones"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "phone_index"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    phone_enc: Mapped[str] = mapped_column(sa.Text)
    phone_index: Mapped[str] = mapped_column(sa.String(64))
    phone_masked: Mapped[str] = mapped_column(sa.String(32))
    position: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
