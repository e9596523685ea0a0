"""IVR conditions answered from customer records: ``known_caller``, ``vip`` and ``repeat_caller``.

These are internal routing decisions (no person sees the record), so they do
not write to the access log; they reveal nothing to the caller either.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from kefu.contacts.hooks import CallContext, condition
from kefu.core.db import bind_tenant
from kefu.customers.models import Customer
from kefu.customers.queries import customer_id_by_phone
from kefu.tenancy.models import Tenant


async def _customer(ctx: Any, call: CallContext) -> Customer | None:
    async with ctx.session_factory() as session:
        await bind_tenant(session, call.tenant_id)
        tenant = await session.get(Tenant, call.tenant_id)
        customer_id = await customer_id_by_phone(session, tenant, call.number)
        customer = await session.get(Customer, customer_id) if customer_id else None
        await session.commit()
        return customer


@condition("known_caller")
async def known_caller(ctx: Any, call: CallContext) -> bool:
    return await _customer(ctx, call) is not None


@condition("vip")
async def vip(ctx: Any, call: CallContext) -> bool:
    customer = await _customer(ctx, call)
    return bool(customer is not None and customer.vip)


@condition("repeat_caller")
async def repeat_caller(ctx: Any, call: CallContext) -> bool:
    """Called us already in the last 24 hours (another call from the same number)."""
    from kefu.contacts.models import Call

    async with ctx.session_factory() as session:
        await bind_tenant(session, call.tenant_id)
        tenant = await session.get(Tenant, call.tenant_id)
        index = ctx.pii(tenant).phone_index(call.number)
        since = ctx.now() - timedelta(hours=24)
        found = (
            await session.execute(
                sa.select(Call.id)
                .where(
                    Call.tenant_id == call.tenant_id,
                    Call.number_index == index,
                    Call.started_at >= since,
                    Call.id != call.call_id,
                )
                .limit(1)
            )
        ).first()
        await session.commit()
        return found is not None
