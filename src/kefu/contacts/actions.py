"""Writes of the contacts domain: numbers, IVR flows, call settings, wrap-up, and agent call commands.

Configuration changes are audited and reach the running call controller
after commit. Agent call commands act on live calls through the controller;
the controller refuses anything the agent is not entitled to (a call they do
not hold, an offer that has expired) with a 4xx and changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu import audit
from kefu.contacts.access import access_call_by_id, access_flow_by_id, access_number_by_id
from kefu.contacts.controller import controller_of
from kefu.contacts.hooks import WRAP_UP_HOOKS, WrappedUpCall
from kefu.contacts.models import Call, IvrFlow, PlatformNumber, TenantNumber
from kefu.contacts.rules import CallSettings
from kefu.core.actor import Actor, ActorKind
from kefu.core.context import context_of
from kefu.core.db import after_commit, commit
from kefu.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from kefu.core.ids import new_id
from kefu.core.pii import InvalidPhoneNumber, normalize_phone
from kefu.ivr.rules import FlowProblem, validate_flow
from kefu.routing.models import Queue
from kefu.tenancy import Permission, require, save_settings_section
from kefu.tenancy.models import Tenant


def _forget_later(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    def forget() -> None:
        controller = context_of(session).services.get("call_controller")
        if controller is not None:
            controller.forget(tenant_id)

    after_commit(session, forget)


def _normalise(number: str, field: str = "number") -> str:
    try:
        return normalize_phone(number)
    except InvalidPhoneNumber as exc:
        raise InvalidInput(str(exc), errors=[{"field": field, "message": str(exc)}]) from None


# --------------------------------------------------------------------------- platform: number assignment


async def do_assign_number(
    session: AsyncSession, actor: Actor, *, number: str, tenant_id: uuid.UUID, kind: str
) -> PlatformNumber:
    if actor.kind not in (ActorKind.OPERATOR, ActorKind.SYSTEM):
        raise PermissionDenied("Only a platform operator assigns numbers.")
    number = _normalise(number)
    if await session.get(Tenant, tenant_id) is None:
        raise NotFound("No such organisation.")
    existing = (
        await session.execute(sa.select(PlatformNumber).where(PlatformNumber.number == number))
    ).scalar_one_or_none()
    if existing is not None:
        raise Conflict(f"Number {number} is already assigned.")
    row = PlatformNumber(number=number, tenant_ref=tenant_id, kind=kind)
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        actor,
        "number.assigned",
        target_type="number",
        target_id=row.id,
        tenant_id=None,
        details={"number": number, "tenant": str(tenant_id), "kind": kind},
    )
    return row


# --------------------------------------------------------------------------- tenant numbers and flows


async def _check_flow_key(session: AsyncSession, actor: Actor, flow_id: uuid.UUID | None) -> None:
    if flow_id is None:
        return
    found = (
        await session.execute(
            sa.select(IvrFlow.id).where(IvrFlow.tenant_id == actor.tenant_id, IvrFlow.flow_key == flow_id).limit(1)
        )
    ).first()
    if not found:
        raise NotFound(f"No IVR flow with id {flow_id} in this organisation.")


async def do_add_number(
    session: AsyncSession,
    actor: Actor,
    *,
    number: str,
    label: str = "",
    flow_id: uuid.UUID | None = None,
    outbound_caller_id: bool = True,
) -> TenantNumber:
    require(actor, Permission.CALLS_MANAGE)
    await _check_flow_key(session, actor, flow_id)
    number = _normalise(number)
    owner = (
        await session.execute(sa.select(PlatformNumber.tenant_ref).where(PlatformNumber.number == number))
    ).scalar_one_or_none()
    if owner != actor.tenant_id:
        raise NotFound(f"Number {number} is not assigned to this organisation; ask your platform operator.")
    if (
        await session.execute(
            sa.select(TenantNumber.id).where(TenantNumber.tenant_id == actor.tenant_id, TenantNumber.number == number)
        )
    ).first():
        raise Conflict(f"Number {number} is already configured.")
    assert actor.tenant_id is not None
    row = TenantNumber(
        tenant_id=actor.tenant_id, number=number, label=label, flow_id=flow_id, outbound_caller_id=outbound_caller_id
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        actor,
        "number.configured",
        target_type="number",
        target_id=row.id,
        details={"number": number, "flow_id": str(flow_id) if flow_id else None},
    )
    _forget_later(session, actor.tenant_id)
    return row


async def do_update_number(
    session: AsyncSession, actor: Actor, number_id: uuid.UUID, changes: dict[str, Any]
) -> TenantNumber:
    require(actor, Permission.CALLS_MANAGE)
    row = await access_number_by_id(session, actor, number_id)
    if "flow_id" in changes:
        await _check_flow_key(session, actor, changes["flow_id"])
        row.flow_id = changes["flow_id"]
    for key in ("label", "outbound_caller_id"):
        if changes.get(key) is not None:
            setattr(row, key, changes[key])
    await session.flush()
    await audit.record(
        session,
        actor,
        "number.configured",
        target_type="number",
        target_id=row.id,
        details={k: str(v) if isinstance(v, uuid.UUID) else v for k, v in changes.items()},
    )
    assert actor.tenant_id is not None
    _forget_later(session, actor.tenant_id)
    return row


async def _queue_names(session: AsyncSession, actor: Actor) -> list[str]:
    return list((await session.execute(sa.select(Queue.name).where(Queue.tenant_id == actor.tenant_id))).scalars())


def _flow_or_error(definition: dict[str, Any], queues: list[str]) -> None:
    try:
        validate_flow(definition, queues)
    except FlowProblem as exc:
        raise InvalidInput(
            "The IVR flow cannot be saved: " + "; ".join(exc.problems[:5]) + ".",
            errors=[{"field": "definition", "message": p} for p in exc.problems],
        ) from None


async def do_create_flow(session: AsyncSession, actor: Actor, *, name: str, definition: dict[str, Any]) -> IvrFlow:
    require(actor, Permission.CALLS_MANAGE)
    _flow_or_error(definition, await _queue_names(session, actor))
    if (
        await session.execute(
            sa.select(IvrFlow.id).where(IvrFlow.tenant_id == actor.tenant_id, IvrFlow.name == name).limit(1)
        )
    ).first():
        raise Conflict(f"An IVR flow named {name!r} already exists; save a new version of it instead.")
    flow_id = new_id()
    assert actor.tenant_id is not None
    row = IvrFlow(
        id=flow_id,
        tenant_id=actor.tenant_id,
        flow_key=flow_id,
        name=name,
        version=1,
        is_current=True,
        definition=definition,
        created_by=actor.user_id,
        created_at=context_of(session).now(),
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session, actor, "ivr.flow_created", target_type="ivr_flow", target_id=row.id, details={"name": name}
    )
    return row


async def do_save_flow_version(
    session: AsyncSession, actor: Actor, flow_id: uuid.UUID, *, name: str, definition: dict[str, Any]
) -> IvrFlow:
    require(actor, Permission.CALLS_MANAGE)
    current = await access_flow_by_id(session, actor, flow_id)
    _flow_or_error(definition, await _queue_names(session, actor))
    await session.execute(
        sa.update(IvrFlow)
        .where(IvrFlow.tenant_id == actor.tenant_id, IvrFlow.flow_key == current.flow_key)
        .values(is_current=False)
    )
    assert actor.tenant_id is not None
    row = IvrFlow(
        tenant_id=actor.tenant_id,
        flow_key=current.flow_key,
        name=name,
        version=current.version + 1,
        is_current=True,
        definition=definition,
        created_by=actor.user_id,
        created_at=context_of(session).now(),
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        actor,
        "ivr.flow_changed",
        target_type="ivr_flow",
        target_id=current.flow_key,
        details={"name": name, "version": row.version},
    )
    _forget_later(session, actor.tenant_id)
    return row


async def do_update_call_settings(
    session: AsyncSession, actor: Actor, tenant: Tenant, changes: dict[str, Any]
) -> CallSettings:
    require(actor, Permission.CALLS_MANAGE)
    current = CallSettings.of(tenant.settings).model_dump()
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            continue
        merged[key] = (
            {**current[key], **value} if isinstance(value, dict) and isinstance(current.get(key), dict) else value
        )
    try:
        settings = CallSettings.model_validate(merged)
    except ValueError as exc:
        raise InvalidInput(f"These call settings are not valid: {exc}") from None
    await save_settings_section(session, actor, tenant, "calls", settings.model_dump(), before=current)
    _forget_later(session, tenant.id)
    return settings


# --------------------------------------------------------------------------- wrap-up


async def do_wrap_up(session: AsyncSession, actor: Actor, call_id: uuid.UUID, *, code: str, notes: str) -> Call:
    require(actor, Permission.CALLS_HANDLE)
    call = await access_call_by_id(session, actor, call_id)
    if call.agent_id != actor.user_id:
        raise Conflict("Only the agent who handled this call can wrap it up.", code="not-your-call")
    tenant = await session.get(Tenant, actor.tenant_id)
    settings = CallSettings.of(tenant.settings if tenant else {})
    codes = settings.wrap_up_codes
    if code not in codes:
        raise InvalidInput(
            f"Unknown wrap-up code {code!r}; use one of: {', '.join(codes)}.",
            errors=[{"field": "code", "message": "unknown wrap-up code"}],
        )
    call.wrap_up_code = code
    call.notes = notes or None
    await session.flush()
    await _after_wrap_up(session, call, settings)
    controller = context_of(session).services.get("call_controller")
    if controller is not None and actor.tenant_id is not None:
        hosted = controller.host.loaded(actor.tenant_id)
        agent = str(actor.user_id)
        if hosted is not None and hosted.router.has_agent(agent):
            hosted.router.end_wrap_up(agent)
    return call


async def _after_wrap_up(session: AsyncSession, call: Call, settings: CallSettings) -> None:
    """Tell the domains that care (``contacts.hooks.on_wrap_up``): a complaint code feeds early warning."""
    from kefu.domains import import_call_hooks

    import_call_hooks()
    wrapped = WrappedUpCall(
        tenant_id=call.tenant_id,
        call_id=call.id,
        customer_id=call.customer_id,
        number_index=call.number_index,
        code=call.wrap_up_code or "",
        complaint_category=settings.complaint_codes.get(call.wrap_up_code or ""),
        at=context_of(session).now(),
    )
    for hook in WRAP_UP_HOOKS:
        await hook(session, wrapped)


# --------------------------------------------------------------------------- agent call commands


def _controller(session: AsyncSession) -> Any:
    return controller_of(context_of(session))


def _agent(actor: Actor) -> tuple[uuid.UUID, str]:
    """(tenant, agent id); a machine client has no agent id and matches no call ("not your call")."""
    require(actor, Permission.CALLS_HANDLE)
    assert actor.tenant_id is not None
    return actor.tenant_id, str(actor.user_id) if actor.user_id else f"{actor.kind}:{actor.id}"


def do_call_command(session: AsyncSession, actor: Actor, call_id: uuid.UUID, command: str) -> dict[str, Any] | None:
    tenant_id, agent = _agent(actor)
    controller = _controller(session)
    commands = {
        "answer": lambda: controller.answer(tenant_id, agent, call_id),
        "reject": lambda: controller.reject(tenant_id, agent, call_id),
        "hangup": lambda: controller.hangup(tenant_id, agent, call_id),
        "hold": lambda: controller.hold(tenant_id, agent, call_id, True),
        "resume": lambda: controller.hold(tenant_id, agent, call_id, False),
        "mute": lambda: controller.mute(tenant_id, agent, call_id, True),
        "unmute": lambda: controller.mute(tenant_id, agent, call_id, False),
        "pause-recording": lambda: controller.recording_pause(tenant_id, agent, call_id, True),
        "resume-recording": lambda: controller.recording_pause(tenant_id, agent, call_id, False),
        "consult-complete": lambda: controller.consult_complete(tenant_id, agent, call_id),
        "consult-cancel": lambda: controller.consult_cancel(tenant_id, agent, call_id),
    }
    return commands[command]()


async def do_transfer(
    session: AsyncSession,
    actor: Actor,
    call_id: uuid.UUID,
    *,
    queue_id: uuid.UUID | None,
    agent_id: uuid.UUID | None,
    number: str | None,
) -> None:
    tenant_id, agent = _agent(actor)
    controller = _controller(session)
    if queue_id is not None:
        controller.transfer_to_queue(tenant_id, agent, call_id, str(queue_id))
    elif agent_id is not None:
        controller.transfer_to_agent(tenant_id, agent, call_id, str(agent_id))
    else:
        assert number is not None
        controller.transfer_to_number(tenant_id, agent, call_id, number)


async def do_consult(
    session: AsyncSession, actor: Actor, call_id: uuid.UUID, *, agent_id: uuid.UUID | None, number: str | None
) -> dict[str, Any]:
    tenant_id, agent = _agent(actor)
    return _controller(session).consult(
        tenant_id, agent, call_id, agent=str(agent_id) if agent_id else None, number=number
    )


async def do_conference(
    session: AsyncSession, actor: Actor, call_id: uuid.UUID, *, agent_id: uuid.UUID | None, number: str | None
) -> dict[str, Any]:
    tenant_id, agent = _agent(actor)
    return _controller(session).conference(
        tenant_id, agent, call_id, agent=str(agent_id) if agent_id else None, number=number
    )


async def do_dial(session: AsyncSession, actor: Actor, number: str) -> dict[str, Any]:
    tenant_id, agent = _agent(actor)
    if actor.user_id is None:
        raise PermissionDenied("Only a signed-in agent can place calls.")
    if session.in_transaction():
        await commit(session)  # the controller reads the database in sessions of its own
    call = await _controller(session).dial(tenant_id, agent, number)
    return call.summary()
