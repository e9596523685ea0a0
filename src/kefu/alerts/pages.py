"""The supervisor's early-warning board: alerts updating live, the selected alert's timeline (count vs
expected), the area tree with open alerts highlighted, the incident with its linked orders, and the
"open incident" / "resolve" actions.

The page subscribes to the ``alerts`` topic (SSE, ``frontend/alerts.js``); on every event htmx reloads
the list, the tree and the detail fragments from here. Forms post here and redirect back (CSRF field).
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kefu.alerts import actions, queries
from kefu.core import i18n
from kefu.core.actor import Actor
from kefu.core.errors import KefuError, NotFound
from kefu.tenancy.pages import PageTenant, Signed
from kefu.tenancy.rules import Permission as P
from kefu.web.deps import DB
from kefu.web.templating import render
from kefu.workorders.rules import LABELS, STATUS_LABELS

router = APIRouter(include_in_schema=False)

PARTS = ("list", "tree", "detail")
ALERT_STATUS_LABELS = {
    "open": i18n.N_("Open"),
    "closed": i18n.N_("Closed"),
    "incident": i18n.N_("Incident"),
    "resolved": i18n.N_("Resolved"),
}


def _uuid(value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _chart(d: queries.AlertDetail) -> str:
    """The timeline as JSON for the chart (read by ``frontend/alerts.js``; no inline script)."""
    points = [[p.at.isoformat(), p.count, round(p.expected, 3), round(p.score, 2)] for p in d.timeline]
    return json.dumps(
        {
            "points": points,
            "labels": {
                "count": i18n.gettext("Complaints"),
                "expected": i18n.gettext("Expected"),
                "score": i18n.gettext("Score"),
            },
        },
        ensure_ascii=False,
    ).replace("</", "<\\/")


async def _context(db: DB, actor: Actor, selected: uuid.UUID | None) -> dict[str, Any]:
    rows = await queries.list_alerts(db, actor, limit=100)
    alerts = rows[:100]
    if selected is None and alerts:
        open_ = [a for a in alerts if a.status != "closed"]
        selected = (open_ or alerts)[0].id
    detail = incident = None
    if selected is not None:
        try:
            detail = await queries.alert_detail(db, actor, selected)
        except NotFound:
            detail = None
        if detail is not None and detail.incident is not None:
            incident = await queries.incident_detail(db, actor, detail.incident.id)
    incidents = await queries.list_incidents(db, actor, status="open", limit=20)
    return {
        "alerts": alerts,
        "selected": detail.alert if detail else None,
        "detail": detail,
        "incident": incident,
        "incidents": incidents[:20],
        "chart_json": _chart(detail) if detail else "{}",
        "tree": await queries.area_tree(db, actor),
        "alert_status_labels": ALERT_STATUS_LABELS,
        "status_labels": STATUS_LABELS,
        "labels": LABELS,
        "can_manage": actor.can(P.INCIDENTS_MANAGE),
    }


@router.get("/t/{tenant}/alerts", response_class=HTMLResponse)
async def alerts_page(
    request: Request, db: DB, tenant: PageTenant, actor: Actor = Signed(P.ALERTS_READ), alert: str = ""
) -> Response:
    return render(
        request,
        "alerts/board.html",
        tenant=tenant,
        title=i18n.gettext("Early warning"),
        **await _context(db, actor, _uuid(alert)),
    )


@router.get("/t/{tenant}/alerts/part/{part}", response_class=HTMLResponse)
async def alerts_fragment(
    request: Request, db: DB, tenant: PageTenant, part: str, actor: Actor = Signed(P.ALERTS_READ), alert: str = ""
) -> Response:
    """One live region of the board (htmx reloads it when the ``alerts`` topic says something changed)."""
    if part not in PARTS:
        raise NotFound(f"Unknown part {part!r}.")
    return render(request, f"alerts/_{part}.html", tenant=tenant, **await _context(db, actor, _uuid(alert)))


async def _with_error(
    request: Request, db: DB, tenant: Any, actor: Actor, alert_id: uuid.UUID | None, exc: KefuError
) -> Response:
    return render(
        request,
        "alerts/board.html",
        status_code=exc.status,
        tenant=tenant,
        title=i18n.gettext("Early warning"),
        error=i18n.gettext(exc.detail),
        **await _context(db, actor, alert_id),
    )


@router.post("/t/{tenant}/alerts/{alert_id}/incident", response_class=HTMLResponse)
async def open_incident(
    request: Request, db: DB, tenant: PageTenant, alert_id: uuid.UUID, actor: Actor = Signed(P.INCIDENTS_MANAGE)
) -> Response:
    try:
        async with db.begin_nested():
            await actions.do_open_incident(db, actor, alert_id)
    except KefuError as exc:
        if isinstance(exc, NotFound):
            raise
        return await _with_error(request, db, tenant, actor, alert_id, exc)
    return RedirectResponse(f"/t/{tenant.slug}/alerts?alert={alert_id}", status_code=303)


@router.post("/t/{tenant}/incidents/{incident_id}/resolve", response_class=HTMLResponse)
async def resolve_incident(
    request: Request,
    db: DB,
    tenant: PageTenant,
    incident_id: uuid.UUID,
    note: Annotated[str, Form(max_length=2000)] = "",
    resolution: Annotated[str, Form(max_length=20)] = "resolved",
    actor: Actor = Signed(P.INCIDENTS_MANAGE),
) -> Response:
    from kefu.alerts.access import access_incident_by_id

    incident = await access_incident_by_id(db, actor, incident_id)
    alert_id = incident.alert_id
    try:
        async with db.begin_nested():
            await actions.do_resolve_incident(db, actor, incident_id, note=note, resolution=resolution)
    except KefuError as exc:
        if isinstance(exc, NotFound):
            raise
        return await _with_error(request, db, tenant, actor, alert_id, exc)
    return RedirectResponse(f"/t/{tenant.slug}/alerts?alert={alert_id}", status_code=303)
