"""Load work-order rows for an actor. Another tenant's row is indistinguishable from a missing one."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.core.actor import Actor
from kefu.core.errors import NotFound
from kefu.workorders.models import (
    AuthorityPolicy,
    BusinessCalendar,
    Category,
    DispatchRule,
    RefundDecision,
    SlaPolicy,
    WorkOrder,
)

T = TypeVar("T")


async def _load(
    session: AsyncSession, actor: Actor, model: type[T], row_id: uuid.UUID, label: str, for_update: bool = False
) -> T:
    if actor.tenant_id is None:
        raise NotFound("Not found.")
    stmt = sa.select(model).where(model.id == row_id, model.tenant_id == actor.tenant_id)  # type: ignore[attr-defined]
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No {label} with id {row_id} in this organisation.")
    return row


async def access_work_order_by_id(
    session: AsyncSession, actor: Actor, order_id: uuid.UUID, *, for_update: bool = False
) -> WorkOrder:
    return await _load(session, actor, WorkOrder, order_id, "work order", for_update)


async def access_category_by_id(session: AsyncSession, actor: Actor, category_id: uuid.UUID) -> Category:
    return await _load(session, actor, Category, category_id, "category")


async def access_dispatch_rule_by_id(session: AsyncSession, actor: Actor, rule_id: uuid.UUID) -> DispatchRule:
    return await _load(session, actor, DispatchRule, rule_id, "dispatch rule")


async def access_calendar_by_id(session: AsyncSession, actor: Actor, calendar_id: uuid.UUID) -> BusinessCalendar:
    return await _load(session, actor, BusinessCalendar, calendar_id, "business calendar")


async def access_sla_policy_by_id(session: AsyncSession, actor: Actor, policy_id: uuid.UUID) -> SlaPolicy:
    return await _load(session, actor, SlaPolicy, policy_id, "SLA policy")


async def access_authority_policy_by_id(session: AsyncSession, actor: Actor, policy_id: uuid.UUID) -> AuthorityPolicy:
    return await _load(session, actor, AuthorityPolicy, policy_id, "authority policy")


async def access_refund_by_id(
    session: AsyncSession, actor: Actor, refund_id: uuid.UUID, *, for_update: bool = False
) -> RefundDecision:
    return await _load(session, actor, RefundDecision, refund_id, "refund decision", for_update)


def tenant_of(actor: Actor) -> Any:
    if actor.tenant_id is None:
        raise NotFound("Not found.")
    return actor.tenant_id
