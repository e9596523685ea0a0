"""Server-rendered pages of the contacts domain: the agent desktop and the supervisor wallboard.

Both pages are a shell plus a JSON block (no inline script: strict CSP) that ``frontend/desktop.js``
and ``frontend/wallboard.js`` read. The desktop's block carries the initial snapshot (the same as
``GET /desktop``) and the id of the last real-time event it includes, so the browser follows
``agent:<id>`` from exactly that point: state = snapshot + events. Only masked numbers reach the page.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from kefu.contacts import queries
from kefu.contacts.rules import CallSettings
from kefu.core import i18n
from kefu.core.actor import Actor
from kefu.core.i18n import N_
from kefu.tenancy.pages import PageTenant, Signed
from kefu.tenancy.rules import Permission as P
from kefu.web.deps import DB, get_context
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
