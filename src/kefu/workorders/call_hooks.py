"""What work orders do after a call: a call wrapped up with a complaint code (``CallSettings.complaint_codes``)
is a complaint for early warning even when the agent settled it on the phone and wrote no order."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.contacts.hooks import WrappedUpCall, on_wrap_up
from kefu.core.ids import new_id
from kefu.customers.models import Area, Customer, CustomerPhone
from kefu.workorders.models import ComplaintEvent


@on_wrap_up
async def record_call_complaint(session: AsyncSession, call: WrappedUpCall) -> None:
    """A call wrapped up with a complaint code is a complaint for early warning, once: not when a work order
    was already written for it (that order's row counts it)."""
    if call.complaint_category is None:
        return
    counted = (
        await session.execute(
            sa.select(ComplaintEvent.id)
            .where(ComplaintEvent.tenant_id == call.tenant_id, ComplaintEvent.call_id == call.call_id)
            .limit(1)
        )
    ).scalar_one_or_none()
    if counted is not None:
        return
    area_path = ""
    area = sa.select(Area.path).join(
        Customer, sa.and_(Customer.area_id == Area.id, Customer.tenant_id == Area.tenant_id)
    )
    if call.customer_id is not None:
        area = area.where(Customer.tenant_id == call.tenant_id, Customer.id == call.customer_id)
    elif call.number_index is not None:  # the caller's customer record, by the blind index of the number
        area = area.join(
            CustomerPhone,
            sa.and_(CustomerPhone.customer_id == Customer.id, CustomerPhone.tenant_id == Customer.tenant_id),
        ).where(CustomerPhone.tenant_id == call.tenant_id, CustomerPhone.phone_index == call.number_index)
    else:
        area = None
    if area is not None:
        area_path = (await session.execute(area.limit(1))).scalar_one_or_none() or ""
    session.add(
        ComplaintEvent(
            id=new_id(),
            tenant_id=call.tenant_id,
            order_id=None,
            call_id=call.call_id,
            kind="complaint.call",
            occurred_at=call.at,
            area_path=area_path,
            category_path="/".join(p.strip() for p in call.complaint_category.split("/") if p.strip()),
            caller_index=call.number_index,
        )
    )
    await session.flush()
