"""Load alerts and incidents for an actor. Another tenant's row is indistinguishable from a missing one."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.alerts.models import Alert, Incident
from kefu.core.actor import Actor
from kefu.core.errors import NotFound


async def access_alert_by_id(
    session: AsyncSession, actor: Actor, alert_id: uuid.UUID, *, for_update: bool = False
) -> Alert:
    if actor.tenant_id is None:
        raise NotFound("Not found.")
    stmt = sa.select(Alert).where(Alert.id == alert_id, Alert.tenant_id == actor.tenant_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No alert with id {alert_id} in this organisation.")
    return row


async def access_incident_by_id(
    session: AsyncSession, actor: Actor, incident_id: uuid.UUID, *, for_update: bool = False
) -> Incident:
    if actor.tenant_id is None:
        raise NotFound("Not found.")
    stmt = sa.select(Incident).where(Incident.id == incident_id, Incident.tenant_id == actor.tenant_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No incident with id {incident_id} in this organisation.")
    return row
