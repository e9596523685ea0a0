"""Reads of the customers domain. Every read of a customer record is written to the access log.

Customer data leaves this module masked (``CustomerView``); clear text only through
``actions.do_reveal_customer``.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu import audit
from kefu.core.actor import Actor
from kefu.core.context import context_of
from kefu.core.errors import InvalidInput
from kefu.core.pii import InvalidPhoneNumber, normalize_phone
from kefu.customers.access import access_customer_by_id
from kefu.customers.models import Area, Customer, CustomerPhone
from kefu.customers.rules import JUSTIFICATIONS, MIN_REASON_LENGTH, normalize_id_number, tenure_months
from kefu.customers.schemas import CustomerView


async def _tenant(session: AsyncSession, actor: Actor) -> Any:
    from kefu.tenancy.queries import get_tenant

    assert actor.tenant_id is not None
    return await get_tenant(session, actor.tenant_id)


async def check_justification(
    session: AsyncSession,
    actor: Actor,
    customer_id: uuid.UUID | None,
    justification_type: str | None,
    justification_id: Any,
    reason: str | None,
) -> None:
    """An access needs a linked interaction (a call, or a work order about this customer) or a reason."""
    if justification_type is not None:
        if justification_type not in JUSTIFICATIONS:
            raise InvalidInput(f"Unknown justification {justification_type!r}; use one of {', '.join(JUSTIFICATIONS)}.")
        if justification_id is None:
            raise InvalidInput("Name the call or work order that justifies this access (justification_id).")
        if justification_type == "work_order" and customer_id is not None:
            from kefu.workorders import order_concerns_customer

            if not await order_concerns_customer(session, actor, uuid.UUID(str(justification_id)), customer_id):
                raise InvalidInput("That work order is not about this customer; give the right order or a reason.")
        return
    if not reason or len(reason.strip()) < MIN_REASON_LENGTH:
        raise InvalidInput(
            "Opening a customer record needs the call or work order it is for (justification_type and "
            "justification_id) or a reason of at least 4 characters; the access is logged either way."
        )


async def _views(session: AsyncSession, customers: list[Customer]) -> list[CustomerView]:
    if not customers:
        return []
    ids = [c.id for c in customers]
    phones: dict[uuid.UUID, list[str]] = {}
    rows = await session.execute(
        sa.select(CustomerPhone.customer_id, CustomerPhone.phone_masked)
        .where(CustomerPhone.tenant_id == customers[0].tenant_id, CustomerPhone.customer_id.in_(ids))
        .order_by(CustomerPhone.customer_id, CustomerPhone.position)
    )
    for cid, masked in rows:
        phones.setdefault(cid, []).append(masked)
    area_ids = {c.area_id for c in customers if c.area_id}
    paths: dict[uuid.UUID, str] = {}
    if area_ids:
        paths = dict(
            (
                await session.execute(
                    sa.select(Area.id, Area.path).where(Area.tenant_id == customers[0].tenant_id, Area.id.in_(area_ids))
                )
            ).all()
        )
    now = context_of(session).now()
    return [
        CustomerView(
            id=c.id,
            name=c.name_masked,
            phones=phones.get(c.id, []),
            id_number=c.id_number_masked,
            address=c.address_masked,
            area_id=c.area_id,
            area_path=paths.get(c.area_id) if c.area_id else None,
            plan=c.plan,
            star_level=c.star_level,
            credit_rating=c.credit_rating,
            vip=c.vip,
            customer_since=c.customer_since,
            tenure_months=tenure_months(c.customer_since, now),
        )
        for c in customers
    ]


async def masked_view(session: AsyncSession, customer: Customer) -> CustomerView:
    """The masked view of a row already loaded and accounted for (no access record)."""
    return (await _views(session, [customer]))[0]


async def view_customer(
    session: AsyncSession,
    actor: Actor,
    customer_id: uuid.UUID,
    *,
    justification_type: str | None = None,
    justification_id: Any = None,
    reason: str | None = None,
) -> CustomerView:
    """Open a customer record (masked) and write the view to the access log."""
    customer = await access_customer_by_id(session, actor, customer_id)
    await check_justification(session, actor, customer.id, justification_type, justification_id, reason)
    await audit.record_access(
        session,
        actor,
        "view",
        resource_type="customer",
        resource_id=customer.id,
        justification_type=justification_type,
        justification_id=justification_id,
        reason=reason,
    )
    return await masked_view(session, customer)


async def customer_id_by_phone(session: AsyncSession, tenant: Any, phone_e164: str) -> uuid.UUID | None:
    """The customer owning a number (no access record: for internal matching such as repeat detection)."""
    index = context_of(session).pii(tenant).phone_index(phone_e164)
    return (
        await session.execute(
            sa.select(CustomerPhone.customer_id).where(
                CustomerPhone.tenant_id == tenant.id, CustomerPhone.phone_index == index
            )
        )
    ).scalar_one_or_none()


async def find_by_phone(
    session: AsyncSession,
    actor: Actor,
    phone: str,
    *,
    justification_type: str | None,
    justification_id: Any,
    reason: str | None = None,
) -> CustomerView | None:
    """Screen pop: the customer owning ``phone`` (masked), or None. The lookup is written to the access log."""
    try:
        e164 = normalize_phone(phone)
    except InvalidPhoneNumber as exc:
        raise InvalidInput(str(exc), errors=[{"field": "phone", "message": str(exc)}]) from None
    await check_justification(session, actor, None, justification_type, justification_id, reason)
    tenant = await _tenant(session, actor)
    customer_id = await customer_id_by_phone(session, tenant, e164)
    if customer_id is None:
        await audit.record_access(
            session,
            actor,
            "search",
            resource_type="customer",
            justification_type=justification_type,
            justification_id=justification_id,
            reason=reason,
            details={"by": "phone", "result_count": 0},
        )
        return None
    customer = await access_customer_by_id(session, actor, customer_id)
    await audit.record_access(
        session,
        actor,
        "view",
        resource_type="customer",
        resource_id=customer.id,
        justification_type=justification_type,
        justification_id=justification_id,
        reason=reason,
        details={"by": "phone"},
    )
    return await masked_view(session, customer)


async def search_customers(
    session: AsyncSession,
    actor: Actor,
    *,
    phone: str | None = None,
    id_number: str | None = None,
    after: uuid.UUID | None = None,
    limit: int = 50,
    justification_type: str | None = None,
    justification_id: Any = None,
    reason: str | None = None,
) -> list[CustomerView]:
    """Masked customers, optionally matched exactly by phone or ID number (blind indexes).

    Searching by an identifier needs a justification or a reason (insider rule R2); every
    search is written to the access log with its result count.
    """
    stmt = sa.select(Customer).where(Customer.tenant_id == actor.tenant_id)
    terms = []
    if phone or id_number:
        await check_justification(session, actor, None, justification_type, justification_id, reason)
        tenant = await _tenant(session, actor)
        crypto = context_of(session).pii(tenant)
        if phone:
            try:
                e164 = normalize_phone(phone)
            except InvalidPhoneNumber as exc:
                raise InvalidInput(str(exc), errors=[{"field": "phone", "message": str(exc)}]) from None
            stmt = stmt.where(
                Customer.id.in_(
                    sa.select(CustomerPhone.customer_id).where(
                        CustomerPhone.tenant_id == actor.tenant_id,
                        CustomerPhone.phone_index == crypto.phone_index(e164),
                    )
                )
            )
            terms.append("phone")
        if id_number:
            stmt = stmt.where(
                Customer.id_number_index == crypto.blind_index("id_number", normalize_id_number(id_number))
            )
            terms.append("id_number")
    if after is not None:
        stmt = stmt.where(Customer.id > after)
    rows = list((await session.execute(stmt.order_by(Customer.id).limit(limit + 1))).scalars())
    await audit.record_access(
        session,
        actor,
        "search",
        resource_type="customer",
        justification_type=justification_type,
        justification_id=justification_id,
        reason=reason,
        details={"by": terms, "result_count": min(len(rows), limit)},
    )
    return await _views(session, rows)


async def list_areas(session: AsyncSession, actor: Actor) -> list[Area]:
    stmt = sa.select(Area).where(Area.tenant_id == actor.tenant_id).order_by(Area.path)
    return list((await session.execute(stmt)).scalars())
