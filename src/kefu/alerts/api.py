"""HTTP API of early warning: alerts with their timeline, incidents, the tenant's policy."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, status

from kefu.alerts import actions, queries
from kefu.alerts.policy import AlertSettings
from kefu.alerts.schemas import (
    AlertDetailOut,
    AlertOut,
    AlertPointOut,
    AlertSettingsUpdate,
    IncidentDetailOut,
    IncidentOut,
    IncidentResolveInput,
    MemberOut,
    SubscriberOut,
)
from kefu.core.actor import Actor
from kefu.core.schemas import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, keyset_page
from kefu.tenancy.rules import Permission
from kefu.web.deps import DB, CurrentTenant, Require

router = APIRouter(prefix="/api/v1/t/{tenant}", tags=["early warning"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
P = Permission


def Allowed(permission: Permission) -> Any:
    return Depends(Require(permission))


def alert_detail_out(d: queries.AlertDetail) -> AlertDetailOut:
    return AlertDetailOut(
        **AlertOut.model_validate(d.alert).model_dump(),
        timeline=[AlertPointOut.model_validate(p) for p in d.timeline],
        incident=IncidentOut.model_validate(d.incident) if d.incident else None,
    )


def incident_detail_out(d: queries.IncidentDetail) -> IncidentDetailOut:
    return IncidentDetailOut(
        **IncidentOut.model_validate(d.incident).model_dump(),
        master_number=d.master.number if d.master else None,
        master_status=d.master.status if d.master else None,
        member_count=d.member_count,
        members=[
            MemberOut(
                id=m.id,
                number=m.number,
                status=m.status,
                title=m.title,
                area_path=m.area_path,
                category_path=m.category_path,
                caller=m.caller_masked,
                intercepted=m.intercepted,
                created_at=m.created_at,
            )
            for m in d.members
        ],
        subscribers=[
            SubscriberOut(
                id=s.id, number=s.number_masked, call_id=s.call_id, created_at=s.created_at, notified_at=s.notified_at
            )
            for s in d.subscribers
        ],
        notices=d.notices,
    )


@router.get("/alerts", response_model=Page[AlertOut], summary="Early-warning alerts, newest first")
async def list_alerts(
    db: DB,
    actor: Actor = Allowed(P.ALERTS_READ),
    status_: Annotated[Literal["open", "closed", "incident"] | None, Query(alias="status")] = None,
    after: uuid.UUID | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
):
    rows = await queries.list_alerts(db, actor, status=status_, after=after, limit=limit)
    return keyset_page(rows, limit, AlertOut)


@router.get(
    "/alerts/{alert_id}", response_model=AlertDetailOut, summary="An alert with its timeline (count vs expected)"
)
async def get_alert(alert_id: uuid.UUID, db: DB, actor: Actor = Allowed(P.ALERTS_READ)):
    return alert_detail_out(await queries.alert_detail(db, actor, alert_id))


@router.post(
    "/alerts/{alert_id}/incident",
    response_model=IncidentDetailOut,
    status_code=status.HTTP_201_CREATED,
    summary="Open an incident: one master order dispatched once, the open complaints linked to it",
)
async def open_incident(alert_id: uuid.UUID, db: DB, actor: Actor = Allowed(P.INCIDENTS_MANAGE)):
    incident = await actions.do_open_incident(db, actor, alert_id)
    return incident_detail_out(await queries.incident_detail(db, actor, incident.id))


@router.get("/incidents", response_model=Page[IncidentOut], summary="Incidents, newest first")
async def list_incidents(
    db: DB,
    actor: Actor = Allowed(P.ALERTS_READ),
    status_: Annotated[Literal["open", "resolved"] | None, Query(alias="status")] = None,
    after: uuid.UUID | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
):
    rows = await queries.list_incidents(db, actor, status=status_, after=after, limit=limit)
    return keyset_page(rows, limit, IncidentOut)


@router.get(
    "/incidents/{incident_id}",
    response_model=IncidentDetailOut,
    summary="An incident: its master order, linked orders, subscribers (masked) and counters",
)
async def get_incident(incident_id: uuid.UUID, db: DB, actor: Actor = Allowed(P.ALERTS_READ)):
    return incident_detail_out(await queries.incident_detail(db, actor, incident_id))


@router.post(
    "/incidents/{incident_id}/resolve",
    response_model=IncidentDetailOut,
    summary="Resolve: reply to the master, move members to follow-up, SMS or call back every customer",
)
async def resolve_incident(
    incident_id: uuid.UUID, body: IncidentResolveInput, db: DB, actor: Actor = Allowed(P.INCIDENTS_MANAGE)
):
    await actions.do_resolve_incident(db, actor, incident_id, note=body.note, resolution=body.resolution)
    return incident_detail_out(await queries.incident_detail(db, actor, incident_id))


@router.get("/alerts-settings", summary="The early-warning policy (thresholds, auto-open, texts)")
async def get_alert_settings(tenant: CurrentTenant, actor: Actor = Allowed(P.ALERTS_READ)) -> dict[str, Any]:
    return AlertSettings.of(tenant.settings).model_dump()


@router.patch("/alerts-settings", summary="Change the early-warning policy")
async def update_alert_settings(
    body: AlertSettingsUpdate, db: DB, actor: Actor = Allowed(P.SETTINGS_MANAGE)
) -> dict[str, Any]:
    settings = await actions.do_update_alert_settings(db, actor, body.model_dump(exclude_unset=True))
    return settings.model_dump()
