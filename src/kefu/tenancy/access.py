"""Load tenancy rows for an actor. Another tenant's row is indistinguishable from a missing one."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.core.actor import Actor
from kefu.core.errors import NotFound
from kefu.tenancy.models import ApiToken, Department, User


def _tenant_of(actor: Actor) -> uuid.UUID:
    if actor.tenant_id is None:
        raise NotFound("Not found.")
    return actor.tenant_id


async def access_user_by_id(
    session: AsyncSession, actor: Actor, user_id: uuid.UUID, *, for_update: bool = False
) -> User:
    stmt = sa.select(User).where(User.id == user_id, User.tenant_id == _tenant_of(actor))
    if for_update:
        stmt = stmt.with_for_update()
    user = (await session.execute(stmt)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"No user with id {user_id} in this organisation.")
    return user


async def access_department_by_id(session: AsyncSession, actor: Actor, department_id: uuid.UUID) -> Department:
    stmt = sa.select(Department).where(Department.id == department_id, Department.tenant_id == _tenant_of(actor))
    department = (await session.execute(stmt)).scalar_one_or_none()
    if department is None:
        raise NotFound(f"No department with id {department_id} in this organisation.")
    return department


async def access_api_token_by_id(session: AsyncSession, actor: Actor, token_id: uuid.UUID) -> ApiToken:
    stmt = sa.select(ApiToken).where(ApiToken.id == token_id, ApiToken.tenant_id == _tenant_of(actor))
    token = (await session.execute(stmt)).scalar_one_or_none()
    if token is None:
        raise NotFound(f"No API token with id {token_id} in this organisation.")
    return token
