"""Server-rendered pages of the contacts domain: the agent desktop, the supervisor wallboard, the call
history with each call's timeline and recording, and the IVR flow administration.

Both pages are a shell plus a JSON block (no inline script: strict CSP) that ``frontend/desktop.js``
and ``frontend/wallboard.js`` read. The desktop's block carries the initial snapshot (the same as
``GET /desktop``) and the id of the last real-time event it includes, so the browser follows
``agent:<id>`` from exactly that point: state = snapshot + events. Only masked numbers reach the page.

The call list, call detail and IVR pages are plain server-rendered pages (forms, no script of their
own). The recording player's ``src`` is the recording API, which checks the permission and writes the
access log on every fetch; the player loads nothing until the person presses play.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kefu.contacts import actions, queries
from kefu.contacts.access import access_flow_by_id
from kefu.contacts.rules import CallSettings
from kefu.core import i18n
from kefu.core.actor import Actor
from kefu.core.errors import InvalidInput, KefuError, NotFound, PermissionDenied
from kefu.core.i18n import N_
from kefu.tenancy.pages import PageTenant, Signed
from kefu.tenancy.rules import Permission as P
from kefu.web.deps import DB, get_context
from kefu.web.forms import form_uuid
from kefu.web.templating import render

router = APIRouter(include_in_schema=False)

#: Break reasons an agent picks from (stored as the key; the label is shown).
BREAK_REASONS: dict[str, str] = {
    "rest": N_("Short break"),
    "meal": N_("Meal"),
    "training": N_("Training"),
    "meeting": N_("Meeting"),
    "coaching": N_("Coaching"),
    "back_office": N_("Back-office work"),
}

#: Breaks the system starts by itself (missed offers, an outbound call, a consultation).
SYSTEM_BREAK_REASONS: dict[str, str] = {
    "missed_offers": N_("Missed calls (paused)"),
    "outbound": N_("Outbound call"),
    "consult": N_("Consultation"),
    "break": N_("Break"),
}

STATUS_LABELS: dict[str, str] = {
    "available": N_("Available"),
    "break": N_("On break"),
    "offline": N_("Signed off"),
}

STATE_LABELS: dict[str, str] = {
    "idle": N_("Idle"),
    "reserved": N_("Ringing"),
    "busy": N_("On a call"),
    "wrap_up": N_("Wrap-up"),
    "missed": N_("Missed a call"),
}

CALL_STATE_LABELS: dict[str, str] = {
    "ivr": N_("In the IVR"),
    "queued": N_("Waiting in queue"),
    "ringing": N_("Ringing"),
    "connected": N_("Connected"),
    "dialing": N_("Dialling the customer"),
    "wrap_up": N_("Wrap-up"),
    "ended": N_("Ended"),
}

OUTCOME_LABELS: dict[str, str] = {
    "answered": N_("Answered"),
    "abandoned": N_("Abandoned"),
    "ivr_abandoned": N_("Hung up in the IVR"),
    "after_hours": N_("After hours"),
    "voicemail": N_("Voicemail"),
    "callback": N_("Callback requested"),
    "transferred_out": N_("Transferred out"),
    "self_service": N_("Self-service"),
    "failed": N_("Failed"),
    "interrupted": N_("Interrupted"),
}

WRAP_UP_LABELS: dict[str, str] = {
    "resolved": N_("Resolved"),
    "complaint_created": N_("Work order created"),
    "information": N_("Information given"),
    "callback_promised": N_("Callback promised"),
    "wrong_number": N_("Wrong number"),
    "other": N_("Other"),
}

DIRECTION_LABELS: dict[str, str] = {"inbound": N_("Inbound"), "outbound": N_("Outbound")}

#: Words the scripts show, translated once per page.
DESKTOP_TEXTS: dict[str, str] = {
    "live": N_("Live"),
    "reconnecting": N_("Reconnecting…"),
    "signed_out": N_("Your session has ended; sign in again."),
    "not_an_agent": N_("You are not set up to take calls yet; ask your administrator for an agent profile."),
    "unknown": N_("Unknown"),
    "no_customer": N_("No customer record for this number."),
    "none": N_("None"),
    "hold": N_("Hold"),
    "unhold": N_("Take off hold"),
    "mute": N_("Mute"),
    "unmute": N_("Unmute"),
    "pause_recording": N_("Pause recording"),
    "resume_recording": N_("Resume recording"),
    "not_recording": N_("Not recorded"),
    "held": N_("On hold"),
    "muted": N_("Muted"),
    "consulting": N_("Consulting"),
    "transferred": N_("The call was transferred; finish the wrap-up."),
    "dial_failed": N_("The call could not be connected: %(cause)s"),
    "pick_up_outbound": N_("Your phone is ringing: pick up to call the customer."),
    "error": N_("Something went wrong; try again."),
    "saved": N_("Saved."),
    "callback": N_("Callback"),
    "outbound": N_("Outbound"),
    "inbound": N_("Inbound"),
    "choose": N_("Choose…"),
    "pick_up": N_("Pick up"),
    "decline": N_("Decline"),
    "name": N_("Name"),
    "phones": N_("Phone numbers"),
    "plan": N_("Plan"),
    "star_level": N_("Star level"),
    "open_orders": N_("Open work orders"),
    "recent_calls": N_("Recent calls"),
}

WALLBOARD_TEXTS: dict[str, str] = {
    "live": N_("Live"),
    "reconnecting": N_("Reconnecting…"),
    "signed_out": N_("Your session has ended; sign in again."),
    "unknown": N_("Unknown"),
    "offered": N_("Offered"),
    "answered": N_("Answered"),
    "abandoned": N_("Abandoned"),
    "service_level": N_("Service level"),
    "no_agents": N_("Nobody"),
    "no_alerts": N_("No alerts."),
    "no_queues": N_("No queues yet."),
    "updated": N_("Updated %(time)s"),
    "expected": N_("expected"),
    "count": N_("count"),
}


def _translate(table: dict[str, str]) -> dict[str, str]:
    return {key: i18n.gettext(value) for key, value in table.items()}


def script_json(value: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``</script>`` or comment can break out."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _common_labels() -> dict[str, Any]:
    return {
        "status": _translate(STATUS_LABELS),
        "state": _translate(STATE_LABELS),
        "break_reasons": _translate({**SYSTEM_BREAK_REASONS, **BREAK_REASONS}),
    }


@router.get("/t/{tenant}/desktop", response_class=HTMLResponse)
async def desktop_page(request: Request, db: DB, tenant: PageTenant, actor: Actor = Signed(P.CALLS_HANDLE)) -> Response:
    snapshot = await queries.desktop_state(db, actor)
    # Read right after the snapshot, with no await in between: no event can slip between the two.
    hub = get_context(request).services["hub"]
    last_event_id = f"{hub.epoch}.{hub.last_seq(tenant.id)}"
    codes = CallSettings.of(tenant.settings).wrap_up_codes
    config = {
        "tenant": tenant.slug,
        "api": f"/api/v1/t/{tenant.slug}",
        "agent_id": snapshot["agent_id"],
        "snapshot": snapshot,
        "last_event_id": last_event_id,
        "wrap_up_codes": codes,
        "can_create_orders": actor.can(P.WORKORDERS_CREATE),
        "labels": {
            **_common_labels(),
            "call_state": _translate(CALL_STATE_LABELS),
            "outcome": _translate(OUTCOME_LABELS),
            "wrap_up": {code: i18n.gettext(WRAP_UP_LABELS[code]) if code in WRAP_UP_LABELS else code for code in codes},
            "direction": _translate(DIRECTION_LABELS),
            "text": _translate(DESKTOP_TEXTS),
        },
    }
    return render(
        request,
        "calls/desktop.html",
        tenant=tenant,
        config_json=script_json(config),
        break_reasons=BREAK_REASONS,
        is_agent=snapshot["routing"] is not None,
    )


@router.get("/t/{tenant}/wallboard", response_class=HTMLResponse)
async def wallboard_page(request: Request, tenant: PageTenant, actor: Actor = Signed(P.WALLBOARD_READ)) -> Response:
    topics = ["wallboard"] + (["alerts"] if actor.can(P.ALERTS_READ) else [])
    # Open early-warning alerts are listed at load when that API is served (the alerts domain).
    alerts_list = "alerts" in topics and any(
        getattr(route, "path", None) == "/api/v1/t/{tenant}/alerts" for route in request.app.routes
    )
    config = {
        "tenant": tenant.slug,
        "api": f"/api/v1/t/{tenant.slug}",
        "topics": topics,
        "alerts_list": alerts_list,
        "can_read_stats": actor.can(P.ROUTING_READ),
        "labels": {**_common_labels(), "text": _translate(WALLBOARD_TEXTS)},
    }
    return render(
        request,
        "calls/wallboard.html",
        tenant=tenant,
        config_json=script_json(config),
        can_read_stats=actor.can(P.ROUTING_READ),
        show_alerts="alerts" in topics,
    )


# --------------------------------------------------------------------------- call history

#: What each step of a call's timeline is called (``call_events.type``); unknown types show as stored.
EVENT_LABELS: dict[str, str] = {
    "call.started": N_("Call started"),
    "ivr.menu": N_("Menu choice"),
    "ivr.self_service": N_("Self-service"),
    "call.queued": N_("Queued"),
    "call.callback_requested": N_("Callback requested"),
    "call.voicemail": N_("Voicemail"),
    "call.overflowed": N_("Overflowed"),
    "call.exception": N_("Queue rule applied"),
    "call.connected": N_("Connected"),
    "call.dial_failed": N_("Dialling failed"),
    "call.hold": N_("Put on hold"),
    "call.resume": N_("Taken off hold"),
    "call.mute": N_("Muted"),
    "call.unmute": N_("Unmuted"),
    "recording.paused": N_("Recording paused"),
    "recording.resumed": N_("Recording resumed"),
    "call.transferred": N_("Transferred"),
    "call.consult_started": N_("Consultation started"),
    "call.consult_completed": N_("Consultation transfer completed"),
    "call.consult_ended": N_("Consultation ended"),
    "call.conference_dialing": N_("Adding to the conference"),
    "call.conference": N_("Conference"),
    "call.conference_left": N_("Left the conference"),
    "call.customer_hung_up": N_("Customer hung up"),
    "call.agent_hung_up": N_("Agent hung up"),
    "survey.answered": N_("Survey answered"),
    "call.ended": N_("Call ended"),
}

PAGE_SIZE = 50


def _day_bounds(day: str, timezone: str) -> tuple[datetime | None, datetime | None]:
    """The start and end of a calendar day in the tenant's time zone (none for no day)."""
    if not day:
        return None, None
    try:
        start = datetime.combine(date.fromisoformat(day), time(0), tzinfo=ZoneInfo(timezone))
    except ValueError:
        raise InvalidInput(i18n.gettext("Enter the date as YYYY-MM-DD.")) from None
    return start, start + timedelta(days=1)



def _call_labels() -> dict[str, Any]:
    return {
        "outcomes": OUTCOME_LABELS,
        "directions": DIRECTION_LABELS,
        "wrap_up_labels": WRAP_UP_LABELS,
        "call_states": CALL_STATE_LABELS,
    }


@router.get("/t/{tenant}/calls", response_class=HTMLResponse)
async def calls_page(
    request: Request,
    db: DB,
    tenant: PageTenant,
    actor: Actor = Signed(P.CALLS_READ),
    direction: Annotated[str, Query(pattern="^(inbound|outbound)?$")] = "",
    outcome: Annotated[str, Query(max_length=20)] = "",
    day: Annotated[str, Query(pattern=r"^(\d{4}-\d{2}-\d{2})?$")] = "",
    agent: Annotated[str, Query(max_length=40)] = "",
    before: uuid.UUID | None = None,
) -> Response:
    since, until = _day_bounds(day, tenant.timezone)
    supervisor = actor.can(P.CALLS_READ_ALL)
    agent_id = form_uuid(agent)
    rows = await queries.list_calls(
        db,
        actor,
        before=before,
        limit=PAGE_SIZE,
        direction=direction or None,
        outcome=outcome or None,
        agent_id=agent_id if supervisor else None,
        since=since,
        until=until,
    )
    calls = rows[:PAGE_SIZE]
    return render(
        request,
        "calls/list.html",
        tenant=tenant,
        calls=calls,
        next_before=calls[-1].id if len(rows) > PAGE_SIZE else None,
        filters={"direction": direction, "outcome": outcome, "day": day, "agent": str(agent_id or "")},
        agents=await queries.agent_choices(db, actor) if supervisor else [],
        queue_names=await queries.queue_names(db, actor),
        people=await queries.people_names(db, actor, [c.agent_id for c in calls if c.agent_id]),
        tz=ZoneInfo(tenant.timezone),
        **_call_labels(),
    )


@router.get("/t/{tenant}/calls/{call_id}", response_class=HTMLResponse)
async def call_page(
    request: Request, db: DB, tenant: PageTenant, call_id: uuid.UUID, actor: Actor = Signed(P.CALLS_READ)
) -> Response:
    view = await queries.call_view(db, actor, call_id)
    return render(
        request,
        "calls/detail.html",
        tenant=tenant,
        v=view,
        c=view.call,
        # Queue and people ids as the timeline's data holds them (strings).
        names={str(key): name for key, name in {**view.queue_names, **view.people}.items()},
        can_play=actor.can(P.RECORDINGS_PLAY),
        can_download=actor.can(P.RECORDINGS_DOWNLOAD),
        recording_url=f"/api/v1/t/{tenant.slug}/calls/{view.call.id}/recording",
        event_labels=EVENT_LABELS,
        tz=ZoneInfo(tenant.timezone),
        **_call_labels(),
    )


# --------------------------------------------------------------------------- IVR flows


def _definition(text: str) -> dict[str, Any]:
    """The flow definition typed into the editor, as the actions take it."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            i18n.gettext(
                "The definition is not valid JSON: %(error)s (line %(line)s, column %(column)s).",
                error=exc.msg,
                line=exc.lineno,
                column=exc.colno,
            )
        ) from None
    if not isinstance(value, dict):
        raise InvalidInput(i18n.gettext("The definition must be a JSON object with a start node and nodes."))
    return value


def _flow_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput(i18n.gettext("Give the flow a name."))
    return name


def _problems(exc: KefuError) -> list[str]:
    return [e["message"] for e in exc.extra.get("errors") or [] if isinstance(e, dict) and e.get("message")]


def _pretty(definition: Any) -> str:
    return json.dumps(definition, ensure_ascii=False, indent=2)


def _starter_flow(queue: str | None) -> str:
    """A flow to start from: a welcome prompt, then the first queue (or goodbye when there is none yet)."""
    last = {"type": "queue", "queue": queue} if queue else {"type": "hangup"}
    welcome = {"type": "play", "prompt": {"text": i18n.gettext("Hello, thank you for calling.")}, "next": "route"}
    return _pretty({"start": "welcome", "nodes": {"welcome": welcome, "route": last}})


async def _ivr_admin(
    request: Request,
    db: DB,
    tenant: Any,
    actor: Actor,
    *,
    error: str | None = None,
    problems: list[str] | None = None,
    form: dict[str, str] | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> Response:
    flows = await queries.list_flows(db, actor)
    queue_names = sorted((await queries.queue_names(db, actor)).values())
    return render(
        request,
        "calls/ivr_admin.html",
        status_code=status_code,
        tenant=tenant,
        flows=flows,
        flow_names={f.flow_key: f.name for f in flows},
        numbers=await queries.list_numbers(db, actor),
        error=error,
        problems=problems or [],
        form=form or {"name": "", "definition": _starter_flow(queue_names[0] if queue_names else None)},
        saved=saved,
        tz=ZoneInfo(tenant.timezone),
    )


@router.get("/t/{tenant}/admin/ivr", response_class=HTMLResponse)
async def ivr_admin_page(
    request: Request, db: DB, tenant: PageTenant, actor: Actor = Signed(P.CALLS_MANAGE), saved: str = ""
) -> Response:
    return await _ivr_admin(request, db, tenant, actor, saved=bool(saved))


@router.post("/t/{tenant}/admin/ivr/flows", response_class=HTMLResponse)
async def ivr_create_flow(
    request: Request,
    db: DB,
    tenant: PageTenant,
    name: Annotated[str, Form(max_length=64)] = "",
    definition: Annotated[str, Form(max_length=200_000)] = "",
    actor: Actor = Signed(P.CALLS_MANAGE),
) -> Response:
    try:
        async with db.begin_nested():
            flow = await actions.do_create_flow(db, actor, name=_flow_name(name), definition=_definition(definition))
    except KefuError as exc:
        if isinstance(exc, PermissionDenied):
            raise
        return await _ivr_admin(
            request,
            db,
            tenant,
            actor,
            error=i18n.gettext(exc.detail),
            problems=_problems(exc),
            form={"name": name, "definition": definition},
            status_code=exc.status,
        )
    return RedirectResponse(f"/t/{tenant.slug}/admin/ivr/flows/{flow.flow_key}?saved=1", status_code=303)


@router.post("/t/{tenant}/admin/ivr/numbers/{number_id}", response_class=HTMLResponse)
async def ivr_bind_number(
    db: DB,
    tenant: PageTenant,
    number_id: uuid.UUID,
    flow_id: Annotated[str, Form(max_length=40)] = "",
    actor: Actor = Signed(P.CALLS_MANAGE),
) -> Response:
    flow = form_uuid(flow_id)
    # An unknown number or flow (another organisation's included) is a 404 page, as everywhere.
    async with db.begin_nested():
        await actions.do_update_number(db, actor, number_id, {"flow_id": flow})
    return RedirectResponse(f"/t/{tenant.slug}/admin/ivr?saved=1", status_code=303)


async def _flow_page(
    request: Request,
    db: DB,
    tenant: Any,
    actor: Actor,
    flow_id: uuid.UUID,
    *,
    error: str | None = None,
    problems: list[str] | None = None,
    form: dict[str, str] | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> Response:
    current = await access_flow_by_id(db, actor, flow_id)
    versions = await queries.flow_versions(db, actor, current.flow_key)
    return render(
        request,
        "calls/ivr_flow.html",
        status_code=status_code,
        tenant=tenant,
        flow=current,
        versions=[(v, _pretty(v.definition)) for v in versions],
        authors=await queries.people_names(db, actor, [v.created_by for v in versions if v.created_by]),
        numbers=[n for n in await queries.list_numbers(db, actor) if n.flow_id == current.flow_key],
        error=error,
        problems=problems or [],
        form=form or {"name": current.name, "definition": _pretty(current.definition)},
        saved=saved,
        tz=ZoneInfo(tenant.timezone),
    )


@router.get("/t/{tenant}/admin/ivr/flows/{flow_id}", response_class=HTMLResponse)
async def ivr_flow_page(
    request: Request,
    db: DB,
    tenant: PageTenant,
    flow_id: uuid.UUID,
    actor: Actor = Signed(P.CALLS_MANAGE),
    saved: str = "",
) -> Response:
    return await _flow_page(request, db, tenant, actor, flow_id, saved=bool(saved))


@router.post("/t/{tenant}/admin/ivr/flows/{flow_id}", response_class=HTMLResponse)
async def ivr_save_flow(
    request: Request,
    db: DB,
    tenant: PageTenant,
    flow_id: uuid.UUID,
    name: Annotated[str, Form(max_length=64)] = "",
    definition: Annotated[str, Form(max_length=200_000)] = "",
    actor: Actor = Signed(P.CALLS_MANAGE),
) -> Response:
    try:
        async with db.begin_nested():
            await actions.do_save_flow_version(
                db, actor, flow_id, name=_flow_name(name), definition=_definition(definition)
            )
    except KefuError as exc:
        if isinstance(exc, (PermissionDenied, NotFound)):
            raise
        return await _flow_page(
            request,
            db,
            tenant,
            actor,
            flow_id,
            error=i18n.gettext(exc.detail),
            problems=_problems(exc),
            form={"name": name, "definition": definition},
            status_code=exc.status,
        )
    return RedirectResponse(f"/t/{tenant.slug}/admin/ivr/flows/{flow_id}?saved=1", status_code=303)
