"""Load contacts rows for an actor: another tenant's row, or another agent's call, is a 404."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.contacts.models import Call, IvrFlow, Recording, TenantNumber
from kefu.core.actor import Actor
from kefu.core.errors import NotFound
from kefu.tenancy import Permission


async def access_call_by_id(session: AsyncSession, actor: Actor, call_id: uuid.UUID) -> Call:
    """A call the actor may see: any call of the tenant with ``calls.read_all``, else only their own."""
    stmt = sa.select(Call).where(Call.id == call_id, Call.tenant_id == actor.tenant_id)
    if not actor.can(Permission.CALLS_READ_ALL):
        stmt = stmt.where(Call.agent_id == actor.user_id)
    call = (await session.execute(stmt)).scalar_one_or_none()
    if call is None:
        raise NotFound(f"No call with id {call_id} that you can see.")
    return call


async def kept_recording(session: AsyncSession, call: Call) -> Recording | None:
    """The recording a call's player plays: its latest, if the file was kept (no access check: the call's is done)."""
    recording = (
        await session.execute(
            sa.select(Recording)
            .where(Recording.tenant_id == call.tenant_id, Recording.call_id == call.id)
            .order_by(Recording.started_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return recording if recording is not None and recording.storage_key is not None else None


async def access_recording_of_call(session: AsyncSession, actor: Actor, call_id: uuid.UUID) -> tuple[Call, Recording]:
    call = await access_call_by_id(session, actor, call_id)
    recording = await kept_recording(session, call)
    if recording is None:
        raise NotFound("This call has no recording.")
    return call, recording


async def access_number_by_id(session: AsyncSession, actor: Actor, number_id: uuid.UUID) -> TenantNumber:
    return await _load(session, actor, TenantNumber, number_id, "number")


async def access_flow_by_id(session: AsyncSession, actor: Actor, flow_id: uuid.UUID) -> IvrFlow:
    """The current version of a flow (by its flow id)."""
    row = (
        await session.execute(
            sa.select(IvrFlow).where(
                IvrFlow.tenant_id == actor.tenant_id, IvrFlow.flow_key == flow_id, IvrFlow.is_current.is_(True)
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No IVR flow with id {flow_id} in this organisation.")
    return row


async def _load(session: AsyncSession, actor: Actor, model: Any, row_id: uuid.UUID, what: str) -> Any:
    row = (
        await session.execute(sa.select(model).where(model.id == row_id, model.tenant_id == actor.tenant_id))
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No {what} with id {row_id} in this organisation.")
    return row
