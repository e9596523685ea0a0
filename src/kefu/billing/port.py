"""The billing port: how kefu credits a customer's account (refund first, verify later).

A real operator adapter (BOSS/CRM billing API) implements :class:`BillingPort`; the default,
first-class implementation is :class:`kefu.billing.ledger.LedgerBilling`, a credit-note ledger in
the database (tests, demo, small tenants). Calls run inside the caller's transaction and must be
idempotent per ``idempotency_key``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class CreditResult:
    id: uuid.UUID
    number: str
    amount_cents: int


class BillingPort(Protocol):
    async def issue_credit(
        self,
        session: AsyncSession,
        *,
        tenant_id: uuid.UUID,
        customer_id: uuid.UUID | None,
        amount_cents: int,
        reason: str,
        reference_type: str,
        reference_id: Any,
        idempotency_key: str,
    ) -> CreditResult: ...

    async def reverse_credit(
        self, session: AsyncSession, *, tenant_id: uuid.UUID, credit_id: uuid.UUID, reason: str, idempotency_key: str
    ) -> CreditResult: ...
