"""Reads of the tenancy domain."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.core.actor import Actor
from kefu.core.errors import NotFound
from kefu.core.schemas import DEFAULT_PAGE_SIZE
from kefu.tenancy.models import ApiToken, Department, Tenant, User


async def tenant_by_slug(session: AsyncSession, slug: str) -> Tenant:
    tenant = (await session.execute(sa.select(Tenant).where(Tenant.slug == slug))).scalar_one_or_none()
    if tenant is None or not tenant.is_active:
        raise NotFound(f"No organisation called {slug!r} here. Check the address.")
    return tenant


async def list_tenants(session: AsyncSession) -> list[Tenant]:
    return list((await session.execute(sa.select(Tenant).order_by(Tenant.slug))).scalars())


async def list_users(
    session: AsyncSession,
    actor: Actor,
    *,
    after: uuid.UUID | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    department_id: uuid.UUID | None = None,
    active: bool | None = None,
    search: str | None = None,
) -> list[User]:
    stmt = sa.select(User).where(User.tenant_id == actor.tenant_id)
    if after is not None:
        stmt = stmt.where(User.id > after)
    if department_id is not None:
        stmt = stmt.where(User.department_id == department_id)
    if active is not None:
        stmt = stmt.where(User.is_active.is_(active))
    if search:
        pattern = f"%{search.lower()}%"
        stmt = stmt.where(sa.or_(User.username.like(pattern), sa.func.lower(User.display_name).like(pattern)))
    stmt = stmt.order_by(User.id).limit(limit + 1)
    return list((await session.execute(stmt)).scalars())


async def list_departments(
    session: AsyncSession, actor: Actor, *, after: uuid.UUID | None = None, limit: int = DEFAULT_PAGE_SIZE
) -> list[Department]:
    stmt = sa.select(Department).where(Department.tenant_id == actor.tenant_id)
    if after is not None:
        stmt = stmt.where(Department.id > after)
    stmt = stmt.order_by(Department.id).limit(limit + 1)
    return list((await session.execute(stmt)).scalars())


async def all_departments(session: AsyncSession, actor: Actor) -> list[Department]:
    stmt = sa.select(Department).where(Department.tenant_id == actor.tenant_id).order_by(Department.name)
    return list((await session.execute(stmt)).scalars())


async def list_api_tokens(session: AsyncSession, actor: Actor) -> list[ApiToken]:
    stmt = sa.select(ApiToken).where(ApiToken.tenant_id == actor.tenant_id).order_by(ApiToken.created_at.desc())
    return list((await session.execute(stmt)).scalars())


async def user_by_username(session: AsyncSession, tenant_id: uuid.UUID, username: str) -> User | None:
    stmt = sa.select(User).where(User.tenant_id == tenant_id, User.username == username.lower())
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("No such organisation.")
    return tenant
