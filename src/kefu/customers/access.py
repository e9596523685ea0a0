"""Load customer rows for an actor. Another tenant's row is indistinguishable from a missing one."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.core.actor import Actor
from kefu.core.errors import NotFound
from kefu.customers.models import Area, Customer


async def access_customer_by_id(session: AsyncSession, actor: Actor, customer_id: uuid.UUID) -> Customer:
    if actor.tenant_id is None:
        raise NotFound("Not found.")
    stmt = sa.select(Customer).where(Customer.id == customer_id, Customer.tenant_id == actor.tenant_id)
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No customer with id {customer_id} in this organisation.")
    return row


async def access_area_by_id(session: AsyncSession, actor: Actor, area_id: uuid.UUID) -> Area:
    if actor.tenant_id is None:
        raise NotFound("Not found.")
    stmt = sa.select(Area).where(Area.id == area_id, Area.tenant_id == actor.tenant_id)
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No area with id {area_id} in this organisation.")
    return row
