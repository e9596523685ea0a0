"""IVR hooks of early warning: ``incident_in_area`` (condition) and ``sms_incident_notice`` (self-service).

A flow branches on ``incident_in_area`` to tell callers from an area with a known fault that it is being
fixed, and offers them an SMS when it is (``sms_incident_notice``), instead of queueing them for an agent
who would take the same complaint again. Both are internal decisions on the caller's customer record:
no access-log entry, and nothing about the record leaves the server (the condition is a yes/no, the
self-service returns the tenant's announcement text).
"""

from __future__ import annotations

from typing import Any

from kefu.alerts.actions import covering_incident, customer_area, record_incident_call
from kefu.contacts.hooks import CallContext, condition, self_service
from kefu.core.db import bind_tenant, commit
from kefu.tenancy import Tenant


@condition("incident_in_area")
async def incident_in_area(ctx: Any, call: CallContext) -> bool:
    """The caller's customer record lies in the area of an open incident."""
    async with ctx.session_factory() as session:
        await bind_tenant(session, call.tenant_id)
        tenant = await session.get(Tenant, call.tenant_id)
        found = False
        if tenant is not None:
            _customer, area = await customer_area(session, tenant, call.number)
            found = bool(area) and await covering_incident(session, tenant.id, area) is not None
        await session.commit()
        return found


@self_service("sms_incident_notice")
async def sms_incident_notice(ctx: Any, call: CallContext) -> str | None:
    """Subscribe the caller to the "fixed" SMS, record the call as an intercepted complaint of the
    incident, and return the announcement to play (None outside an incident's area)."""
    async with ctx.session_factory() as session:
        await bind_tenant(session, call.tenant_id)
        tenant = await session.get(Tenant, call.tenant_id)
        if tenant is None:
            return None
        text = await record_incident_call(session, tenant, number=call.number, call_id=call.call_id)
        await commit(session)
        return text
