"""Load routing configuration rows for an actor (another tenant's row is a 404)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.core.actor import Actor
from kefu.core.errors import NotFound
from kefu.routing.models import Queue, RoutingPolicyRow, Skill


async def _load(session: AsyncSession, actor: Actor, model: Any, row_id: uuid.UUID, what: str) -> Any:
    row = (
        await session.execute(sa.select(model).where(model.id == row_id, model.tenant_id == actor.tenant_id))
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No {what} with id {row_id} in this organisation.")
    return row


async def access_queue_by_id(session: AsyncSession, actor: Actor, queue_id: uuid.UUID) -> Queue:
    return await _load(session, actor, Queue, queue_id, "queue")


async def access_policy_by_id(session: AsyncSession, actor: Actor, policy_id: uuid.UUID) -> RoutingPolicyRow:
    return await _load(session, actor, RoutingPolicyRow, policy_id, "routing policy")


async def access_skill_by_id(session: AsyncSession, actor: Actor, skill_id: uuid.UUID) -> Skill:
    return await _load(session, actor, Skill, skill_id, "skill")
