"""Writes of the customers domain: areas, customer records, and the audited reveal of masked fields."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu import audit
from kefu.core.actor import Actor
from kefu.core.context import context_of
from kefu.core.errors import Conflict, InvalidInput, PermissionDenied
from kefu.core.ids import new_id
from kefu.core.pii import InvalidPhoneNumber, mask_address, mask_id_number, mask_name, mask_phone, normalize_phone
from kefu.customers.access import access_area_by_id, access_customer_by_id
from kefu.customers.models import Area, Customer, CustomerPhone
from kefu.customers.queries import _tenant, check_justification
from kefu.customers.rules import CREDIT_RATINGS, REVEALABLE_FIELDS, normalize_id_number
from kefu.tenancy.rules import Permission


def require(actor: Actor, permission: Permission) -> None:
    if not actor.can(permission):
        raise PermissionDenied(f"You need the '{permission}' permission for this; ask your administrator.")


def _invalid(detail: str, field: str) -> InvalidInput:
    return InvalidInput(detail, errors=[{"field": field, "message": detail}])


# --------------------------------------------------------------------------- areas


async def do_create_area(
    session: AsyncSession, actor: Actor, *, name: str, parent_id: uuid.UUID | None = None, code: str | None = None
) -> Area:
    require(actor, Permission.SETTINGS_MANAGE)
    name = name.strip()
    if not name or "/" in name:
        raise _invalid("An area name must not be empty or contain '/'.", "name")
    parent = await access_area_by_id(session, actor, parent_id) if parent_id else None
    path = f"{parent.path}/{name}" if parent else name
    exists = (
        await session.execute(sa.select(Area.id).where(Area.tenant_id == actor.tenant_id, Area.path == path))
    ).first()
    if exists:
        raise Conflict(f"The area {path!r} already exists.")
    area = Area(
        tenant_id=actor.tenant_id,
        parent_id=parent.id if parent else None,
        name=name,
        code=code,
        level=(parent.level + 1) if parent else 1,
        path=path,
    )
    session.add(area)
    await session.flush()
    await audit.record(session, actor, "area.created", target_type="area", target_id=area.id, details={"path": path})
    return area


async def ensure_area_path(session: AsyncSession, actor: Actor, path: str) -> Area:
    """The area at ``省/市/区/小区``, creating missing levels (imports and seeds)."""
    parts = [p.strip() for p in path.split("/") if p.strip()]
    if not parts:
        raise _invalid("The area path is empty.", "area")
    parent: Area | None = None
    for depth in range(1, len(parts) + 1):
        sub = "/".join(parts[:depth])
        row = (
            await session.execute(sa.select(Area).where(Area.tenant_id == actor.tenant_id, Area.path == sub))
        ).scalar_one_or_none()
        if row is None:
            row = Area(
                tenant_id=actor.tenant_id,
                parent_id=parent.id if parent else None,
                name=parts[depth - 1],
                level=depth,
                path=sub,
            )
            session.add(row)
            await session.flush()
        parent = row
    assert parent is not None
    return parent


# --------------------------------------------------------------------------- customers


def _phones(raw: list[str]) -> list[str]:
    numbers: list[str] = []
    for value in raw:
        try:
            e164 = normalize_phone(value)
        except InvalidPhoneNumber as exc:
            raise _invalid(str(exc), "phones") from None
        if e164 not in numbers:
            numbers.append(e164)
    return numbers


async def _set_phones(session: AsyncSession, tenant: Any, customer: Customer, numbers: list[str]) -> None:
    crypto = context_of(session).pii(tenant)
    indexes = [crypto.phone_index(n) for n in numbers]
    taken = (
        (
            await session.execute(
                sa.select(CustomerPhone.phone_index).where(
                    CustomerPhone.tenant_id == tenant.id,
                    CustomerPhone.phone_index.in_(indexes),
                    CustomerPhone.customer_id != customer.id,
                )
            )
        )
        .scalars()
        .first()
    )
    if taken:
        masked = mask_phone(numbers[indexes.index(taken)])
        raise Conflict(f"The number {masked} already belongs to another customer.")
    await session.execute(
        sa.delete(CustomerPhone).where(CustomerPhone.tenant_id == tenant.id, CustomerPhone.customer_id == customer.id)
    )
    for position, (number, index) in enumerate(zip(numbers, indexes, strict=True)):
        row_id = new_id()
        session.add(
            CustomerPhone(
                id=row_id,
                tenant_id=tenant.id,
                customer_id=customer.id,
                position=position,
                phone_enc=crypto.seal(number, row_id=row_id, field="phone") or "",
                phone_index=index,
                phone_masked=mask_phone(number),
            )
        )


def _seal_fields(crypto: Any, customer: Customer, values: dict[str, Any]) -> None:
    if "name" in values and values["name"] is not None:
        customer.name_enc = crypto.seal(values["name"], row_id=customer.id, field="name")
        customer.name_masked = mask_name(values["name"])
    if "id_number" in values:
        number = normalize_id_number(values["id_number"]) if values["id_number"] else None
        customer.id_number_enc = crypto.seal(number, row_id=customer.id, field="id_number")
        customer.id_number_index = crypto.blind_index("id_number", number) if number else None
        customer.id_number_masked = mask_id_number(number)
    if "address" in values:
        customer.address_enc = crypto.seal(values["address"] or None, row_id=customer.id, field="address")
        customer.address_masked = mask_address(values["address"])


async def do_create_customer(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    phones: list[str],
    id_number: str | None = None,
    address: str | None = None,
    area_id: uuid.UUID | None = None,
    plan: str = "",
    star_level: int = 0,
    credit_rating: str = "B",
    vip: bool = False,
    customer_since: datetime | None = None,
) -> Customer:
    require(actor, Permission.CUSTOMERS_MANAGE)
    numbers = _phones(phones)
    if credit_rating not in CREDIT_RATINGS:
        raise _invalid(f"Credit rating must be one of {', '.join(CREDIT_RATINGS)}.", "credit_rating")
    if not 0 <= star_level <= 7:
        raise _invalid("Star level runs from 0 to 7.", "star_level")
    if area_id is not None:
        await access_area_by_id(session, actor, area_id)
    tenant = await _tenant(session, actor)
    crypto = context_of(session).pii(tenant)
    customer = Customer(
        id=new_id(),
        tenant_id=tenant.id,
        area_id=area_id,
        plan=plan,
        star_level=star_level,
        credit_rating=credit_rating,
        vip=vip,
        customer_since=customer_since,
    )
    _seal_fields(crypto, customer, {"name": name, "id_number": id_number, "address": address})
    session.add(customer)
    await session.flush()
    await _set_phones(session, tenant, customer, numbers)
    await session.flush()
    await audit.record(session, actor, "customer.created", target_type="customer", target_id=customer.id)
    return customer


async def do_update_customer(
    session: AsyncSession, actor: Actor, customer_id: uuid.UUID, changes: dict[str, Any]
) -> Customer:
    require(actor, Permission.CUSTOMERS_MANAGE)
    customer = await access_customer_by_id(session, actor, customer_id)
    numbers = _phones(changes["phones"]) if changes.get("phones") else None
    if changes.get("area_id") is not None:
        await access_area_by_id(session, actor, changes["area_id"])
    tenant = await _tenant(session, actor)
    crypto = context_of(session).pii(tenant)
    _seal_fields(crypto, customer, {k: changes[k] for k in ("name", "id_number", "address") if k in changes})
    for field in ("area_id", "plan", "star_level", "credit_rating", "vip", "customer_since"):
        if field in changes and (changes[field] is not None or field in ("area_id", "customer_since")):
            setattr(customer, field, changes[field])
    if numbers is not None:
        await _set_phones(session, tenant, customer, numbers)
    await session.flush()
    await audit.record(
        session,
        actor,
        "customer.updated",
        target_type="customer",
        target_id=customer.id,
        details={"fields": sorted(changes)},
    )
    return customer


async def do_reveal_customer(
    session: AsyncSession,
    actor: Actor,
    customer_id: uuid.UUID,
    *,
    fields: list[str],
    reason: str,
    justification_type: str | None = None,
    justification_id: Any = None,
) -> dict[str, Any]:
    """Show masked fields in clear to a role allowed to, with a stated reason; logged as a reveal."""
    require(actor, Permission.CUSTOMERS_REVEAL)
    customer = await access_customer_by_id(session, actor, customer_id)
    unknown = [f for f in fields if f not in REVEALABLE_FIELDS]
    if unknown:
        raise _invalid(f"Cannot reveal {', '.join(unknown)}; fields are {', '.join(REVEALABLE_FIELDS)}.", "fields")
    if not reason or len(reason.strip()) < 4:
        raise _invalid("State why the full value is needed (at least 4 characters).", "reason")
    await check_justification(session, actor, customer.id, justification_type, justification_id, reason)
    tenant = await _tenant(session, actor)
    crypto = context_of(session).pii(tenant)
    shown: dict[str, Any] = {}
    if "name" in fields:
        shown["name"] = crypto.open(customer.name_enc, row_id=customer.id, field="name")
    if "id_number" in fields:
        shown["id_number"] = crypto.open(customer.id_number_enc, row_id=customer.id, field="id_number")
    if "address" in fields:
        shown["address"] = crypto.open(customer.address_enc, row_id=customer.id, field="address")
    if "phones" in fields:
        rows = (
            await session.execute(
                sa.select(CustomerPhone)
                .where(CustomerPhone.tenant_id == tenant.id, CustomerPhone.customer_id == customer.id)
                .order_by(CustomerPhone.position)
            )
        ).scalars()
        shown["phones"] = [crypto.open(r.phone_enc, row_id=r.id, field="phone") for r in rows]
    await audit.record_access(
        session,
        actor,
        "reveal",
        resource_type="customer",
        resource_id=customer.id,
        justification_type=justification_type,
        justification_id=justification_id,
        reason=reason,
        details={"fields": sorted(fields)},
    )
    return shown


async def primary_phone(session: AsyncSession, tenant: Any, customer_id: uuid.UUID) -> str | None:
    """The customer's first number in clear, for system use only (sending a follow-up SMS); never displayed."""
    row = (
        await session.execute(
            sa.select(CustomerPhone)
            .where(CustomerPhone.tenant_id == tenant.id, CustomerPhone.customer_id == customer_id)
            .order_by(CustomerPhone.position)
            .limit(1)
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    return context_of(session).pii(tenant).open(row.phone_enc, row_id=row.id, field="phone")
