"""HTTP API of the contacts domain: calls and call control, recordings, numbers, IVR flows, settings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import FileResponse

from kefu import audit
from kefu.contacts import actions, queries
from kefu.contacts.access import access_call_by_id, access_flow_by_id, access_recording_of_call
from kefu.contacts.rules import CallSettings
from kefu.contacts.schemas import (
    CallDetail,
    CallEventOut,
    CallOut,
    CallSettingsUpdate,
    ConsultRequest,
    DialRequest,
    FlowOut,
    FlowSave,
    NumberAssign,
    NumberCreate,
    NumberOut,
    NumberUpdate,
    TransferRequest,
    WrapUp,
)
from kefu.core.actor import Actor
from kefu.core.context import context_of
from kefu.core.errors import NotFound
from kefu.core.schemas import MAX_PAGE_SIZE, Page
from kefu.tenancy import Permission
from kefu.web.deps import DB, CurrentOperator, CurrentTenant, Require

router = APIRouter(prefix="/api/v1/t/{tenant}", tags=["calls"])
platform_router = APIRouter(prefix="/api/v1/platform", tags=["platform"])


def Allowed(permission: Permission | None) -> Any:
    return Depends(Require(permission))


# --------------------------------------------------------------------------- history


@router.get("/calls", response_model=Page[CallOut], summary="Calls, newest first (agents see their own)")
async def list_calls(
    db: DB,
    actor: Actor = Allowed(Permission.CALLS_READ),
    before: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    direction: Annotated[str | None, Query(pattern="^(inbound|outbound)$")] = None,
    outcome: Annotated[str | None, Query(max_length=20)] = None,
    agent_id: uuid.UUID | None = None,
    since: datetime | None = None,
):
    rows = await queries.list_calls(
        db, actor, before=before, limit=limit, direction=direction, outcome=outcome, agent_id=agent_id, since=since
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[CallOut](
        items=[CallOut.model_validate(r) for r in rows], next_after=str(rows[-1].id) if more and rows else None
    )


@router.get("/calls/{call_id}", response_model=CallDetail, summary="A call with its timeline")
async def get_call(call_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.CALLS_READ)):
    call = await access_call_by_id(db, actor, call_id)
    events = await queries.call_events(db, actor, call.id)
    return CallDetail(
        **CallOut.model_validate(call).model_dump(),
        ivr_path=call.ivr_path,
        events=[CallEventOut.model_validate(e) for e in events],
    )


@router.get(
    "/calls/{call_id}/recording",
    summary="Play or download a call's recording (logged)",
    response_class=FileResponse,
    responses={200: {"content": {"audio/wav": {}}}},
)
async def get_recording(
    call_id: uuid.UUID,
    db: DB,
    actor: Actor = Allowed(Permission.RECORDINGS_PLAY),
    download: bool = False,
    reason: Annotated[str | None, Query(max_length=200)] = None,
) -> FileResponse:
    if download and not actor.can(Permission.RECORDINGS_DOWNLOAD):
        from kefu.core.errors import PermissionDenied

        raise PermissionDenied("You need the 'recordings.download' permission to download recordings.")
    call, recording = await access_recording_of_call(db, actor, call_id)
    store = context_of(db).services.get("recording_store")
    try:
        path = store.path(recording.storage_key)
    except (FileNotFoundError, AttributeError):
        raise NotFound("The recording file is no longer available.") from None
    await audit.record_access(
        db,
        actor,
        "download" if download else "play",
        resource_type="recording",
        resource_id=recording.id,
        justification_type="call",
        justification_id=call.id,
        reason=reason,
        details={"duration_s": recording.duration_s},
    )
    filename = f"call-{call.started_at:%Y%m%d-%H%M%S}-{str(call.id)[:8]}.wav"
    return FileResponse(
        path,
        media_type="audio/wav",
        filename=filename if download else None,
        content_disposition_type="attachment" if download else "inline",
    )


# --------------------------------------------------------------------------- the agent desktop


@router.get("/desktop/transfer-targets", summary="Queues and agents I can transfer a call to")
async def transfer_targets(db: DB, actor: Actor = Allowed(Permission.CALLS_HANDLE)) -> dict[str, Any]:
    return await queries.transfer_targets(db, actor)


@router.get("/desktop/callbacks", summary="Callbacks waiting in my queues, oldest first")
async def waiting_callbacks(db: DB, actor: Actor = Allowed(Permission.CALLS_HANDLE)) -> list[dict[str, Any]]:
    return await queries.waiting_callbacks(db, actor)


@router.get(
    "/calls/{call_id}/customer",
    summary="Screen pop: the caller's customer record (masked), open work orders and recent calls (logged)",
)
async def screen_pop(call_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.CALLS_HANDLE)) -> dict[str, Any]:
    return await queries.screen_pop(db, actor, call_id)


@router.get("/desktop", summary="The agent desktop's state (snapshot; follow agent:<id> events after)")
async def desktop(db: DB, actor: Actor = Allowed(Permission.CALLS_HANDLE)) -> dict[str, Any]:
    return await queries.desktop_state(db, actor)


def _command(name: str, summary: str) -> None:
    async def handler(call_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.CALLS_HANDLE)) -> dict[str, Any]:
        result = actions.do_call_command(db, actor, call_id, name)
        return {"ok": True, "call": result}

    handler.__name__ = f"call_{name.replace('-', '_')}"
    router.add_api_route(f"/calls/{{call_id}}/{name}", handler, methods=["POST"], summary=summary)


for _name, _summary in (
    ("answer", "Answer the call ringing for me"),
    ("reject", "Decline the call ringing for me"),
    ("hangup", "Hang up my leg of the call"),
    ("hold", "Put the customer on hold"),
    ("resume", "Take the customer off hold"),
    ("mute", "Mute my microphone"),
    ("unmute", "Unmute my microphone"),
    ("pause-recording", "Pause the recording (card payments)"),
    ("resume-recording", "Resume the recording"),
    ("consult-complete", "Complete the attended transfer"),
    ("consult-cancel", "Cancel the consultation and return to the customer"),
):
    _command(_name, _summary)


@router.post("/calls/{call_id}/transfer", summary="Blind transfer to a queue, an agent or a number")
async def transfer(
    call_id: uuid.UUID, body: TransferRequest, db: DB, actor: Actor = Allowed(Permission.CALLS_HANDLE)
) -> dict[str, Any]:
    await actions.do_transfer(db, actor, call_id, **body.model_dump())
    return {"ok": True}


@router.post("/calls/{call_id}/consult", summary="Consult an agent or a number (attended transfer)")
async def consult(
    call_id: uuid.UUID, body: ConsultRequest, db: DB, actor: Actor = Allowed(Permission.CALLS_HANDLE)
) -> dict[str, Any]:
    return {"ok": True, "call": await actions.do_consult(db, actor, call_id, **body.model_dump())}


@router.post("/calls/{call_id}/conference", summary="Add an agent or a number to the call (three-way)")
async def conference(call_id: uuid.UUID, body: ConsultRequest, db: DB,
                     actor: Actor = Allowed(Permission.CALLS_HANDLE)) -> dict[str, Any]:
    return {"ok": True, "call": await actions.do_conference(db, actor, call_id, **body.model_dump())}


@router.post("/calls/{call_id}/wrap-up", response_model=CallOut, summary="Wrap-up code and notes for my call")
async def wrap_up(call_id: uuid.UUID, body: WrapUp, db: DB, actor: Actor = Allowed(Permission.CALLS_HANDLE)):
    return await actions.do_wrap_up(db, actor, call_id, code=body.code, notes=body.notes)


@router.post(
    "/calls/outbound", status_code=status.HTTP_201_CREATED, summary="Click-to-dial: ring my phone, then the customer"
)
async def dial(body: DialRequest, db: DB, actor: Actor = Allowed(Permission.CALLS_HANDLE)) -> dict[str, Any]:
    return {"ok": True, "call": await actions.do_dial(db, actor, body.number)}


# --------------------------------------------------------------------------- configuration


@router.get("/calls-settings", summary="Call settings (recording, missed-call SMS, surveys, wrap-up codes)")
async def get_call_settings(tenant: CurrentTenant, actor: Actor = Allowed(Permission.CALLS_MANAGE)) -> dict[str, Any]:
    return CallSettings.of(tenant.settings).model_dump()


@router.patch("/calls-settings", summary="Change call settings")
async def update_call_settings(
    body: CallSettingsUpdate, db: DB, tenant: CurrentTenant, actor: Actor = Allowed(Permission.CALLS_MANAGE)
) -> dict[str, Any]:
    settings = await actions.do_update_call_settings(db, actor, tenant, body.model_dump(exclude_unset=True))
    return settings.model_dump()


@router.get("/numbers", response_model=list[NumberOut], summary="This organisation's numbers")
async def list_numbers(db: DB, actor: Actor = Allowed(Permission.CALLS_MANAGE)):
    return await queries.list_numbers(db, actor)


@router.post(
    "/numbers",
    response_model=NumberOut,
    status_code=status.HTTP_201_CREATED,
    summary="Configure a number assigned to this organisation",
)
async def add_number(body: NumberCreate, db: DB, actor: Actor = Allowed(Permission.CALLS_MANAGE)):
    return await actions.do_add_number(db, actor, **body.model_dump())


@router.patch("/numbers/{number_id}", response_model=NumberOut, summary="Change which flow answers a number")
async def update_number(
    number_id: uuid.UUID, body: NumberUpdate, db: DB, actor: Actor = Allowed(Permission.CALLS_MANAGE)
):
    return await actions.do_update_number(db, actor, number_id, body.model_dump(exclude_unset=True))


@router.get("/ivr/flows", response_model=list[FlowOut], summary="IVR flows (current versions)")
async def list_flows(db: DB, actor: Actor = Allowed(Permission.CALLS_MANAGE)):
    return await queries.list_flows(db, actor)


@router.post(
    "/ivr/flows",
    response_model=FlowOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create an IVR flow (validated: reachable nodes, exits, existing queues)",
)
async def create_flow(body: FlowSave, db: DB, actor: Actor = Allowed(Permission.CALLS_MANAGE)):
    return await actions.do_create_flow(db, actor, name=body.name, definition=body.definition)


@router.get("/ivr/flows/{flow_id}", response_model=list[FlowOut], summary="An IVR flow's versions, newest first")
async def flow_versions(flow_id: uuid.UUID, db: DB, actor: Actor = Allowed(Permission.CALLS_MANAGE)):
    current = await access_flow_by_id(db, actor, flow_id)
    return await queries.flow_versions(db, actor, current.flow_key)


@router.put("/ivr/flows/{flow_id}", response_model=FlowOut, summary="Save a new version of an IVR flow")
async def save_flow(flow_id: uuid.UUID, body: FlowSave, db: DB, actor: Actor = Allowed(Permission.CALLS_MANAGE)):
    return await actions.do_save_flow_version(db, actor, flow_id, name=body.name, definition=body.definition)


# --------------------------------------------------------------------------- platform


@platform_router.post("/numbers", status_code=status.HTTP_201_CREATED, summary="Assign a number to an organisation")
async def assign_number(body: NumberAssign, db: DB, operator: CurrentOperator) -> dict[str, Any]:
    row = await actions.do_assign_number(db, operator, **body.model_dump())
    return {"id": str(row.id), "number": row.number, "tenant_id": str(row.tenant_ref), "kind": row.kind}
