"""Reads of early warning: alert lists and timelines, incidents with their orders, the area tree."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.alerts.access import access_alert_by_id, access_incident_by_id
from kefu.alerts.models import Alert, AlertUpdateRecord, Incident, IncidentNotice, IncidentSubscriber
from kefu.core.actor import Actor
from kefu.core.errors import InvalidInput
from kefu.workorders import WorkOrder

#: Points of a timeline returned at most (an alert grows by one per complaint).
MAX_POINTS = 2000
MAX_MEMBERS = 500


def _status_filter(stmt: Any, model: Any, status: str | None, allowed: tuple[str, ...]) -> Any:
    if status is None:
        return stmt
    if status not in allowed:
        raise InvalidInput(f"status is one of {', '.join(allowed)}.", errors=[{"field": "status", "message": status}])
    return stmt.where(model.status == status)


async def list_alerts(
    session: AsyncSession, actor: Actor, *, status: str | None = None, after: uuid.UUID | None = None, limit: int = 50
) -> list[Alert]:
    """Newest first; ``limit + 1`` rows (keyset page on the time-ordered id)."""
    stmt = sa.select(Alert).where(Alert.tenant_id == actor.tenant_id)
    stmt = _status_filter(stmt, Alert, status, ("open", "closed", "incident"))
    if after is not None:
        stmt = stmt.where(Alert.id < after)
    return list((await session.execute(stmt.order_by(Alert.id.desc()).limit(limit + 1))).scalars())


@dataclass
class AlertDetail:
    alert: Alert
    timeline: list[AlertUpdateRecord]
    incident: Incident | None


async def alert_detail(session: AsyncSession, actor: Actor, alert_id: uuid.UUID) -> AlertDetail:
    alert = await access_alert_by_id(session, actor, alert_id)
    points = list(
        (
            await session.execute(
                sa.select(AlertUpdateRecord)
                .where(AlertUpdateRecord.tenant_id == alert.tenant_id, AlertUpdateRecord.alert_id == alert.id)
                .order_by(AlertUpdateRecord.at, AlertUpdateRecord.id)
                .limit(MAX_POINTS)
            )
        ).scalars()
    )
    incident = None
    if alert.incident_id is not None:
        incident = await session.get(Incident, alert.incident_id)
    return AlertDetail(alert, points, incident)


async def list_incidents(
    session: AsyncSession, actor: Actor, *, status: str | None = None, after: uuid.UUID | None = None, limit: int = 50
) -> list[Incident]:
    stmt = sa.select(Incident).where(Incident.tenant_id == actor.tenant_id)
    stmt = _status_filter(stmt, Incident, status, ("open", "resolved"))
    if after is not None:
        stmt = stmt.where(Incident.id < after)
    return list((await session.execute(stmt.order_by(Incident.id.desc()).limit(limit + 1))).scalars())


@dataclass
class IncidentDetail:
    incident: Incident
    master: Any
    members: list[Any]
    member_count: int
    subscribers: list[IncidentSubscriber]
    notices: dict[str, int] = field(default_factory=dict)


async def incident_detail(session: AsyncSession, actor: Actor, incident_id: uuid.UUID) -> IncidentDetail:
    incident = await access_incident_by_id(session, actor, incident_id)
    t = incident.tenant_id
    master = (
        await session.execute(
            sa.select(WorkOrder).where(WorkOrder.tenant_id == t, WorkOrder.id == incident.master_order_id)
        )
    ).scalar_one_or_none()
    members_of = sa.and_(WorkOrder.tenant_id == t, WorkOrder.master_id == incident.master_order_id)
    members = list(
        (
            await session.execute(
                sa.select(WorkOrder).where(members_of).order_by(WorkOrder.created_at, WorkOrder.id).limit(MAX_MEMBERS)
            )
        ).scalars()
    )
    count = (await session.execute(sa.select(sa.func.count()).select_from(WorkOrder).where(members_of))).scalar_one()
    subscribers = list(
        (
            await session.execute(
                sa.select(IncidentSubscriber)
                .where(IncidentSubscriber.tenant_id == t, IncidentSubscriber.incident_id == incident.id)
                .order_by(IncidentSubscriber.created_at, IncidentSubscriber.id)
                .limit(MAX_MEMBERS)
            )
        ).scalars()
    )
    notices = dict(
        (
            await session.execute(
                sa.select(IncidentNotice.channel + ":" + IncidentNotice.status, sa.func.count())
                .where(IncidentNotice.tenant_id == t, IncidentNotice.incident_id == incident.id)
                .group_by(IncidentNotice.channel, IncidentNotice.status)
            )
        ).all()
    )
    return IncidentDetail(incident, master, members, count, subscribers, notices)


async def incident_for_alert(session: AsyncSession, actor: Actor, alert: Alert) -> IncidentDetail | None:
    if alert.incident_id is None:
        return None
    return await incident_detail(session, actor, alert.incident_id)


@dataclass
class AreaNode:
    name: str
    path: str
    level: int
    open_alerts: int = 0
    incidents: int = 0
    #: Alerts and incidents in this area or below it.
    hot: int = 0
    children: list[AreaNode] = field(default_factory=list)


async def area_tree(session: AsyncSession, actor: Actor, *, limit: int = 3000) -> list[AreaNode]:
    """The tenant's areas as a tree, each with its open alerts and open incidents (and those below it)."""
    from kefu.customers.queries import list_areas

    areas = (await list_areas(session, actor))[:limit]
    alerts = (
        await session.execute(
            sa.select(Alert.area_path, sa.func.count())
            .where(Alert.tenant_id == actor.tenant_id, Alert.status == "open")
            .group_by(Alert.area_path)
        )
    ).all()
    incidents = (
        await session.execute(
            sa.select(Incident.area_path, sa.func.count())
            .where(Incident.tenant_id == actor.tenant_id, Incident.status == "open")
            .group_by(Incident.area_path)
        )
    ).all()
    nodes: dict[str, AreaNode] = {}
    roots: list[AreaNode] = []

    def node(path: str) -> AreaNode:
        found = nodes.get(path)
        if found is None:
            parent_path, _, name = path.rpartition("/")
            found = nodes[path] = AreaNode(name, path, path.count("/") + 1)
            if parent_path:
                node(parent_path).children.append(found)
            else:
                roots.append(found)
        return found

    for a in areas:
        node(a.path)
    for path, n in alerts:
        if path:
            node(path).open_alerts += n
    for path, n in incidents:
        if path:
            node(path).incidents += n
    for path, n in [*alerts, *incidents]:
        parts = (path or "").split("/")
        for i in range(1, len(parts) + 1):
            key = "/".join(parts[:i])
            if key in nodes:
                nodes[key].hot += n
    return roots
