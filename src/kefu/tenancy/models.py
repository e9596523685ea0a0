"""Tables of the tenancy domain: tenants, departments, users, sessions, API tokens, operators."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kefu.core.db import Base, IdPrimaryKey, JSONType, TenantOwned, Timestamps


class Tenant(IdPrimaryKey, Timestamps, Base):
    """One customer organisation. Not tenant-owned itself: the app resolves slugs to ids."""

    __tablename__ = "tenants"

    slug: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Asia/Shanghai")
    locale: Mapped[str] = mapped_column(sa.String(10), default="zh_CN")
    is_active: Mapped[bool] = mapped_column(default=True)
    #: Random salt of the tenant's PII keys (``core.pii``); null after crypto-shredding.
    pii_key_salt: Mapped[str | None] = mapped_column(sa.String(64))
    #: Tenant-editable settings (see ``tenancy.schemas.TenantSettings``).
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class Department(TenantOwned, Timestamps, Base):
    """A department (network, billing, …) or a team inside one (``parent_id``)."""

    __tablename__ = "departments"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(sa.String(100))
    code: Mapped[str | None] = mapped_column(sa.String(40))
    kind: Mapped[str] = mapped_column(sa.String(20), default="department")
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("departments.id", ondelete="RESTRICT"), index=True
    )
    description: Mapped[str] = mapped_column(sa.String(500), default="")


class User(TenantOwned, Timestamps, Base):
    __tablename__ = "users"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "username"),)

    username: Mapped[str] = mapped_column(sa.String(64))
    display_name: Mapped[str] = mapped_column(sa.String(100))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    #: Role names (``tenancy.rules.Role``); permissions derive from them in one place.
    roles: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    department_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.Uuid, sa.ForeignKey("departments.id", ondelete="SET NULL"), index=True
    )
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    password_changed_at: Mapped[datetime | None]
    is_active: Mapped[bool] = mapped_column(default=True)
    failed_login_count: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    locale: Mapped[str | None] = mapped_column(sa.String(10))
    #: TOTP seed, encrypted with the instance secret (AES-GCM), or None.
    totp_secret_enc: Mapped[str | None] = mapped_column(sa.String(200))
    totp_enabled: Mapped[bool] = mapped_column(default=False)
    #: Last accepted TOTP time step: a code is accepted once (no replay).
    totp_last_timecode: Mapped[int | None] = mapped_column(sa.BigInteger)


class UserSession(TenantOwned, Base):
    """A server-side login. The browser holds only an opaque token; we store its hash."""

    __tablename__ = "user_sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    #: logout | user_disabled | revoked | password_changed | expired
    end_reason: Mapped[str | None] = mapped_column(sa.String(32))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))


class ApiToken(TenantOwned, Base):
    """A per-tenant token for machine clients: shown once, stored hashed, scoped, revocable."""

    __tablename__ = "api_tokens"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(sa.String(100))
    #: First characters of the token, shown in lists so people can tell tokens apart.
    prefix: Mapped[str] = mapped_column(sa.String(24))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    scopes: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    created_by: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, sa.ForeignKey("users.id", ondelete="SET NULL"))


class PlatformOperator(IdPrimaryKey, Timestamps, Base):
    """Runs the service for many tenants; not a member of any tenant."""

    __tablename__ = "platform_operators"

    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100))
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    is_active: Mapped[bool] = mapped_column(default=True)


class PlatformSession(IdPrimaryKey, Base):
    __tablename__ = "platform_sessions"

    operator_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("platform_operators.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
