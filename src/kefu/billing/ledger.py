"""Default billing adapter: credit notes written to ``billing_credit_notes`` in the caller's transaction."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.billing.models import CreditNote
from kefu.billing.port import CreditResult
from kefu.core.context import context_of
from kefu.core.errors import InvalidInput, NotFound
from kefu.core.ids import new_id


class LedgerBilling:
    async def _existing(self, session: AsyncSession, tenant_id: uuid.UUID, key: str) -> CreditNote | None:
        return (
            await session.execute(
                sa.select(CreditNote).where(CreditNote.tenant_id == tenant_id, CreditNote.idempotency_key == key)
            )
        ).scalar_one_or_none()

    async def _number(self, session: AsyncSession, tenant_id: uuid.UUID) -> str:
        return f"CN-{context_of(session).now():%Y%m%d}-{new_id().hex[-10:].upper()}"

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
    ) -> CreditResult:
        if amount_cents <= 0:
            raise InvalidInput("A credit must be a positive amount.")
        existing = await self._existing(session, tenant_id, idempotency_key)
        if existing is None:
            existing = CreditNote(
                tenant_id=tenant_id,
                number=await self._number(session, tenant_id),
                customer_id=customer_id,
                amount_cents=amount_cents,
                reason=reason[:300],
                reference_type=reference_type,
                reference_id=str(reference_id),
                idempotency_key=idempotency_key,
                created_at=context_of(session).now(),
            )
            session.add(existing)
            await session.flush()
        return CreditResult(existing.id, existing.number, existing.amount_cents)

    async def reverse_credit(
        self, session: AsyncSession, *, tenant_id: uuid.UUID, credit_id: uuid.UUID, reason: str, idempotency_key: str
    ) -> CreditResult:
        original = (
            await session.execute(
                sa.select(CreditNote).where(CreditNote.tenant_id == tenant_id, CreditNote.id == credit_id)
            )
        ).scalar_one_or_none()
        if original is None:
            raise NotFound(f"No credit note {credit_id}.")
        existing = await self._existing(session, tenant_id, idempotency_key)
        if existing is None:
            existing = CreditNote(
                tenant_id=tenant_id,
                number=await self._number(session, tenant_id),
                customer_id=original.customer_id,
                amount_cents=-original.amount_cents,
                reason=reason[:300],
                reference_type="credit_note",
                reference_id=str(original.id),
                idempotency_key=idempotency_key,
                reverses_id=original.id,
                created_at=context_of(session).now(),
            )
            session.add(existing)
            await session.flush()
        return CreditResult(existing.id, existing.number, existing.amount_cents)


async def balance_cents(session: AsyncSession, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> int:
    """Total credited to a customer (reversals subtract)."""
    return (
        await session.execute(
            sa.select(sa.func.coalesce(sa.func.sum(CreditNote.amount_cents), 0)).where(
                CreditNote.tenant_id == tenant_id, CreditNote.customer_id == customer_id
            )
        )
    ).scalar_one()
