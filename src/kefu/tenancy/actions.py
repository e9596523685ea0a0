"""Writes of the tenancy domain: tenants, users, departments, logins, sessions, API tokens.

Each public function is a named action: it checks the actor's permission,
validates input (raising ``InvalidInput`` / ``Conflict`` with a message a
person can act on and before changing anything), writes, records an audit
event for security-relevant changes, and flushes. The caller's entrypoint
commits.
"""

from __future__ import annotations

import secrets
import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu import audit
from kefu.core.actor import Actor, ActorKind
from kefu.core.context import context_of
from kefu.core.crypto import new_token, token_hash
from kefu.core.db import bind_tenant
from kefu.core.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, PermissionDenied, TooManyRequests
from kefu.tenancy.access import access_api_token_by_id, access_department_by_id, access_user_by_id
from kefu.tenancy.models import ApiToken, Department, PlatformOperator, PlatformSession, Tenant, User, UserSession
from kefu.tenancy.queries import user_by_username
from kefu.tenancy.rules import (
    PRIVILEGED_ROLES,
    Permission,
    Role,
    SlidingWindowLimiter,
    lockout_after_failure,
    parse_roles,
    parse_scopes,
    password_problem,
    permissions_for,
    slug_problem,
    username_problem,
)

API_TOKEN_PREFIX = "kefu_"  # noqa: S105 - a prefix, not a secret
SESSION_TOUCH_INTERVAL = timedelta(seconds=60)

_END_REASON_MESSAGES = {
    "logout": "You signed out. Sign in again to continue.",
    "user_disabled": "Your session ended because your account was disabled. Ask your administrator.",
    "revoked": "An administrator ended your session. Sign in again.",
    "password_changed": "Your session ended because the password was changed. Sign in with the new password.",
    "expired": "Your session expired. Sign in again.",
}


def require(actor: Actor, permission: Permission) -> None:
    if not actor.can(permission):
        raise PermissionDenied(f"You need the '{permission}' permission for this; ask your administrator.")


def mark_commit_on_error(session: AsyncSession) -> None:
    """Keep this transaction's writes (a failed-login count, its audit record) even though an error follows."""
    session.info["commit_on_error"] = True


def _invalid(detail: str, field: str | None = None) -> InvalidInput:
    errors = [{"field": field, "message": detail}] if field else []
    return InvalidInput(detail, errors=errors)


def _check_password(password: str, username: str, field: str = "password") -> None:
    problem = password_problem(password, username=username)
    if problem:
        raise _invalid(problem, field)


def _check_timezone(name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _invalid(f"Unknown time zone {name!r}; use an IANA name such as 'Asia/Shanghai'.", "timezone") from None


def _roles_or_error(names: list[str]) -> list[Role]:
    try:
        return parse_roles(names)
    except ValueError as exc:
        raise _invalid(str(exc), "roles") from None


def _check_role_grant(actor: Actor, roles: list[Role]) -> None:
    if actor.kind is ActorKind.SYSTEM:
        return
    if not actor.can(Permission.ROLES_ASSIGN):
        raise PermissionDenied("You need the 'roles.assign' permission to give roles; ask your administrator.")
    privileged = [r for r in roles if r in PRIVILEGED_ROLES]
    if privileged and Role.TENANT_ADMIN.value not in actor.roles:
        raise PermissionDenied(f"Only a tenant administrator can grant {', '.join(privileged)}.")


# --------------------------------------------------------------------------- tenants


async def do_create_tenant(
    session: AsyncSession,
    actor: Actor,
    *,
    slug: str,
    name: str,
    timezone: str = "Asia/Shanghai",
    locale: str = "zh_CN",
    admin_username: str | None = None,
    admin_password: str | None = None,
    admin_display_name: str | None = None,
) -> tuple[Tenant, User | None]:
    """Create a tenant and (optionally) its first administrator. Platform operators and the CLI only."""
    if actor.kind not in (ActorKind.OPERATOR, ActorKind.SYSTEM):
        raise PermissionDenied("Only a platform operator can create organisations.")
    slug = slug.lower()
    if problem := slug_problem(slug):
        raise _invalid(problem, "slug")
    _check_timezone(timezone)
    if admin_username is not None:
        if problem := username_problem(admin_username.lower()):
            raise _invalid(problem, "admin_username")
        _check_password(admin_password or "", admin_username, "admin_password")
    exists = (await session.execute(sa.select(Tenant.id).where(Tenant.slug == slug))).first()
    if exists:
        raise Conflict(f"An organisation with slug {slug!r} already exists; choose another slug.")
    tenant = Tenant(
        slug=slug, name=name, timezone=timezone, locale=locale, settings={}, pii_key_salt=secrets.token_hex(32)
    )
    session.add(tenant)
    await session.flush()
    await audit.record(
        session,
        actor,
        "tenant.created",
        target_type="tenant",
        target_id=tenant.id,
        tenant_id=None,
        details={"slug": slug, "name": name},
    )
    await bind_tenant(session, tenant.id)
    tenant_actor = Actor(actor.kind, tenant.id, actor.id, actor.name, ip=actor.ip, user_agent=actor.user_agent)
    await audit.record(
        session,
        tenant_actor,
        "tenant.created",
        target_type="tenant",
        target_id=tenant.id,
        details={"slug": slug, "name": name},
    )
    admin = None
    if admin_username is not None:
        system = Actor.system(actor.name, tenant.id).with_origin(actor.ip, actor.user_agent)
        admin = await _insert_user(
            session,
            system,
            tenant.id,
            username=admin_username.lower(),
            display_name=admin_display_name or admin_username,
            email=None,
            password=admin_password or "",
            roles=[Role.TENANT_ADMIN],
            department_id=None,
        )
    return tenant, admin


async def do_update_tenant_settings(
    session: AsyncSession, actor: Actor, tenant: Tenant, changes: dict[str, Any]
) -> Tenant:
    require(actor, Permission.SETTINGS_MANAGE)
    if "timezone" in changes and changes["timezone"] is not None:
        _check_timezone(changes["timezone"])
    before = {k: getattr(tenant, k) for k in changes}
    for key, value in changes.items():
        if value is not None:
            setattr(tenant, key, value)
    after = {k: getattr(tenant, k) for k in changes}
    if before != after:
        await audit.record(
            session,
            actor,
            "settings.changed",
            target_type="tenant",
            target_id=tenant.id,
            details={"before": before, "after": after},
        )
    await session.flush()
    return tenant


async def save_settings_section(
    session: AsyncSession, actor: Actor, tenant: Tenant, section: str, value: dict[str, Any], *, before: dict[str, Any]
) -> None:
    """Store one domain's section of ``tenants.settings`` (``calls``, ``alerts`` …) and audit the change. The
    domain has checked the permission and validated ``value``."""
    tenant.settings = {**(tenant.settings or {}), section: value}
    await session.flush()
    await audit.record(
        session,
        actor,
        "settings.changed",
        target_type="tenant",
        target_id=tenant.id,
        details={section: {"before": before, "after": value}},
    )


# --------------------------------------------------------------------------- users


async def _insert_user(
    session: AsyncSession,
    actor: Actor,
    tenant_id: uuid.UUID,
    *,
    username: str,
    display_name: str,
    email: str | None,
    password: str,
    roles: list[Role],
    department_id: uuid.UUID | None,
) -> User:
    ctx = context_of(session)
    if problem := username_problem(username):
        raise _invalid(problem, "username")
    _check_password(password, username)
    if await user_by_username(session, tenant_id, username) is not None:
        raise Conflict(f"The username {username!r} is taken in this organisation; choose another.")
    user = User(
        tenant_id=tenant_id,
        username=username,
        display_name=display_name,
        email=email,
        roles=[r.value for r in roles],
        department_id=department_id,
        password_hash=ctx.passwords.hash(password),
        password_changed_at=ctx.now(),
    )
    session.add(user)
    await session.flush()
    await audit.record(
        session,
        actor,
        "user.created",
        target_type="user",
        target_id=user.id,
        details={
            "username": username,
            "roles": user.roles,
            "department_id": str(department_id) if department_id else None,
        },
    )
    return user


async def do_create_user(
    session: AsyncSession,
    actor: Actor,
    *,
    username: str,
    display_name: str,
    password: str,
    roles: list[str],
    email: str | None = None,
    department_id: uuid.UUID | None = None,
) -> User:
    require(actor, Permission.USERS_MANAGE)
    parsed = _roles_or_error(roles)
    _check_role_grant(actor, parsed)
    if department_id is not None:
        await access_department_by_id(session, actor, department_id)
    assert actor.tenant_id is not None
    return await _insert_user(
        session,
        actor,
        actor.tenant_id,
        username=username.lower(),
        display_name=display_name,
        email=email,
        password=password,
        roles=parsed,
        department_id=department_id,
    )


async def do_update_user(session: AsyncSession, actor: Actor, user_id: uuid.UUID, changes: dict[str, Any]) -> User:
    require(actor, Permission.USERS_MANAGE)
    user = await access_user_by_id(session, actor, user_id)
    # Check every referenced row before changing anything (no write may precede a refusal).
    if changes.get("department_id") is not None:
        await access_department_by_id(session, actor, changes["department_id"])
    details: dict[str, Any] = {}
    if "roles" in changes and changes["roles"] is not None:
        parsed = _roles_or_error(changes["roles"])
        new_roles = [r.value for r in parsed]
        if sorted(new_roles) != sorted(user.roles):
            granted_or_removed = {Role(r) for r in set(new_roles) ^ set(user.roles)}
            _check_role_grant(actor, list(granted_or_removed))
            if user.id == actor.user_id and Role.TENANT_ADMIN.value in user.roles and Role.TENANT_ADMIN not in parsed:
                raise Conflict("You cannot remove your own administrator role; ask another administrator.")
            details["roles"] = {"before": user.roles, "after": new_roles}
            user.roles = new_roles
    if "department_id" in changes:
        dep = changes["department_id"]
        if dep != user.department_id:
            details["department_id"] = {
                "before": str(user.department_id) if user.department_id else None,
                "after": str(dep) if dep else None,
            }
            user.department_id = dep
    for field in ("display_name", "email"):
        if field in changes and changes[field] is not None and changes[field] != getattr(user, field):
            details[field] = {"before": getattr(user, field), "after": changes[field]}
            setattr(user, field, changes[field])
    if details:
        action = "user.roles_changed" if "roles" in details else "user.updated"
        await audit.record(session, actor, action, target_type="user", target_id=user.id, details=details)
    await session.flush()
    return user


async def _end_sessions(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    reason: str,
    now: datetime,
    *,
    keep: uuid.UUID | None = None,
) -> int:
    stmt = (
        sa.update(UserSession)
        .where(UserSession.tenant_id == tenant_id, UserSession.user_id == user_id, UserSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    )
    if keep is not None:
        stmt = stmt.where(UserSession.id != keep)
    result = await session.execute(stmt)
    return result.rowcount or 0  # type: ignore[attr-defined]


async def do_disable_user(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> User:
    """Disable an account and end all its sessions at once (agent turnover, ASVS 7.4.2)."""
    require(actor, Permission.USERS_MANAGE)
    user = await access_user_by_id(session, actor, user_id)
    if user.id == actor.user_id:
        raise Conflict("You cannot disable your own account.")
    if not user.is_active:
        return user
    user.is_active = False
    ended = await _end_sessions(session, user.tenant_id, user.id, "user_disabled", context_of(session).now())
    await audit.record(
        session, actor, "user.disabled", target_type="user", target_id=user.id, details={"sessions_ended": ended}
    )
    await session.flush()
    return user


async def do_enable_user(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> User:
    require(actor, Permission.USERS_MANAGE)
    user = await access_user_by_id(session, actor, user_id)
    if not user.is_active:
        user.is_active = True
        user.failed_login_count = 0
        user.locked_until = None
        await audit.record(session, actor, "user.enabled", target_type="user", target_id=user.id)
        await session.flush()
    return user


async def do_unlock_user(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> User:
    require(actor, Permission.USERS_MANAGE)
    user = await access_user_by_id(session, actor, user_id)
    user.failed_login_count = 0
    user.locked_until = None
    await audit.record(session, actor, "user.unlocked", target_type="user", target_id=user.id)
    await session.flush()
    return user


async def do_end_user_sessions(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> int:
    """Force sign-out of every session of a user (ASVS 7.4.5)."""
    require(actor, Permission.USERS_MANAGE)
    user = await access_user_by_id(session, actor, user_id)
    ended = await _end_sessions(session, user.tenant_id, user.id, "revoked", context_of(session).now())
    await audit.record(
        session, actor, "user.sessions_ended", target_type="user", target_id=user.id, details={"sessions_ended": ended}
    )
    return ended


async def do_reset_password(session: AsyncSession, actor: Actor, user_id: uuid.UUID, new_password: str) -> User:
    require(actor, Permission.USERS_MANAGE)
    user = await access_user_by_id(session, actor, user_id)
    _check_password(new_password, user.username, "new_password")
    ctx = context_of(session)
    user.password_hash = ctx.passwords.hash(new_password)
    user.password_changed_at = ctx.now()
    user.failed_login_count = 0
    user.locked_until = None
    ended = await _end_sessions(session, user.tenant_id, user.id, "password_changed", ctx.now())
    await audit.record(
        session, actor, "user.password_reset", target_type="user", target_id=user.id, details={"sessions_ended": ended}
    )
    await session.flush()
    return user


async def do_change_own_password(session: AsyncSession, actor: Actor, current: str, new: str) -> None:
    if actor.user_id is None:
        raise PermissionDenied("Only a signed-in person can change their password.")
    user = await access_user_by_id(session, actor, actor.user_id)
    ctx = context_of(session)
    if not ctx.passwords.verify(user.password_hash, current):
        raise _invalid("The current password is wrong.", "current_password")
    _check_password(new, user.username, "new_password")
    user.password_hash = ctx.passwords.hash(new)
    user.password_changed_at = ctx.now()
    await _end_sessions(session, user.tenant_id, user.id, "password_changed", ctx.now(), keep=actor.session_id)
    await audit.record(session, actor, "user.password_changed", target_type="user", target_id=user.id)
    await session.flush()


# --------------------------------------------------------------------------- departments


async def _check_parent(
    session: AsyncSession, actor: Actor, department_id: uuid.UUID | None, parent_id: uuid.UUID | None
) -> None:
    if parent_id is None:
        return
    seen = set()
    current: uuid.UUID | None = parent_id
    while current is not None:
        if current == department_id or current in seen:
            raise _invalid("A department cannot be inside itself; choose another parent.", "parent_id")
        seen.add(current)
        current = (await access_department_by_id(session, actor, current)).parent_id


async def do_create_department(session: AsyncSession, actor: Actor, **fields: Any) -> Department:
    require(actor, Permission.DEPARTMENTS_MANAGE)
    assert actor.tenant_id is not None
    await _check_parent(session, actor, None, fields.get("parent_id"))
    if (
        await session.execute(
            sa.select(Department.id).where(Department.tenant_id == actor.tenant_id, Department.name == fields["name"])
        )
    ).first():
        raise Conflict(f"A department named {fields['name']!r} already exists.")
    department = Department(tenant_id=actor.tenant_id, **fields)
    session.add(department)
    await session.flush()
    await audit.record(
        session,
        actor,
        "department.created",
        target_type="department",
        target_id=department.id,
        details={"name": department.name},
    )
    return department


async def do_update_department(
    session: AsyncSession, actor: Actor, department_id: uuid.UUID, changes: dict[str, Any]
) -> Department:
    require(actor, Permission.DEPARTMENTS_MANAGE)
    department = await access_department_by_id(session, actor, department_id)
    if "parent_id" in changes:
        await _check_parent(session, actor, department.id, changes["parent_id"])
    if (
        changes.get("name")
        and changes["name"] != department.name
        and (
            await session.execute(
                sa.select(Department.id).where(
                    Department.tenant_id == actor.tenant_id, Department.name == changes["name"]
                )
            )
        ).first()
    ):
        raise Conflict(f"A department named {changes['name']!r} already exists.")
    for key, value in changes.items():
        if value is not None or key == "parent_id":
            setattr(department, key, value)
    await audit.record(
        session,
        actor,
        "department.updated",
        target_type="department",
        target_id=department.id,
        details={k: str(v) if isinstance(v, uuid.UUID) else v for k, v in changes.items()},
    )
    await session.flush()
    return department


async def do_delete_department(session: AsyncSession, actor: Actor, department_id: uuid.UUID) -> None:
    require(actor, Permission.DEPARTMENTS_MANAGE)
    department = await access_department_by_id(session, actor, department_id)
    members = (
        await session.execute(
            sa.select(sa.func.count())
            .select_from(User)
            .where(User.tenant_id == actor.tenant_id, User.department_id == department.id)
        )
    ).scalar_one()
    children = (
        await session.execute(
            sa.select(sa.func.count())
            .select_from(Department)
            .where(Department.tenant_id == actor.tenant_id, Department.parent_id == department.id)
        )
    ).scalar_one()
    if members or children:
        raise Conflict(
            f"Department {department.name!r} still has {members} member(s) and {children} team(s); move them first."
        )
    await session.delete(department)
    await audit.record(
        session,
        actor,
        "department.deleted",
        target_type="department",
        target_id=department_id,
        details={"name": department.name},
    )
    await session.flush()


# --------------------------------------------------------------------------- sign-in


@dataclass(frozen=True)
class SignIn:
    user: User
    session: UserSession
    token: str


def _limiter(session: AsyncSession) -> SlidingWindowLimiter:
    ctx = context_of(session)
    limiter = ctx.services.get("login_limiter")
    if limiter is None:
        limiter = ctx.services["login_limiter"] = SlidingWindowLimiter(ctx.settings.login_rate_per_minute, 60.0)
    return limiter


async def do_login(
    session: AsyncSession,
    tenant: Tenant,
    *,
    username: str,
    password: str,
    totp_code: str | None,
    ip: str | None,
    user_agent: str | None,
) -> SignIn:
    """Check credentials and open a server-side session.

    Failures are counted per account (lockout after ``login_max_failures``)
    and per client address (throttling); each failure is audited and kept
    even though the request fails.
    """
    ctx = context_of(session)
    settings = ctx.settings
    now = ctx.now()
    limiter = _limiter(session)
    throttle_key = f"{tenant.id}:{ip}"
    if (retry := limiter.retry_after(throttle_key, ctx.clock.now())) is not None:
        raise TooManyRequests(
            f"Too many sign-in attempts from your address; wait {retry} seconds and try again.",
            retry_after=retry,
            code="login-throttled",
        )
    anonymous = Actor.anonymous(tenant.id, ip, user_agent)
    username = username.lower()
    user = await user_by_username(session, tenant.id, username)

    async def fail(reason: str, error: Exception, *, count: bool = True) -> Exception:
        limiter.hit(throttle_key, ctx.clock.now())
        details: dict[str, Any] = {"username": username, "reason": reason}
        if user is not None and count:
            user.failed_login_count += 1
            locked_until = lockout_after_failure(
                user.failed_login_count,
                now,
                max_failures=settings.login_max_failures,
                lockout=timedelta(minutes=settings.login_lockout_minutes),
            )
            if locked_until is not None:
                user.locked_until = locked_until
                details["locked_until"] = locked_until.isoformat()
                error = _locked_error(user, settings.login_max_failures, now)
        actor = (
            anonymous
            if user is None
            else Actor(ActorKind.USER, tenant.id, user.id, user.username, ip=ip, user_agent=user_agent)
        )
        await audit.record(
            session,
            actor,
            "auth.login_failed",
            outcome="failure",
            target_type="user",
            target_id=user.id if user else None,
            details=details,
        )
        mark_commit_on_error(session)
        return error

    if user is not None and user.locked_until is not None and user.locked_until > now:
        raise await fail("locked", _locked_error(user, settings.login_max_failures, now), count=False)
    if not ctx.passwords.verify(user.password_hash if user else None, password) or user is None:
        raise await fail(
            "bad_credentials" if user else "unknown_user",
            NotAuthenticated("Wrong username or password.", code="invalid-credentials"),
        )
    if not user.is_active:
        raise await fail(
            "disabled",
            NotAuthenticated("This account is disabled. Ask your administrator to enable it.", code="account-disabled"),
            count=False,
        )
    if user.totp_enabled:
        if not totp_code:
            raise NotAuthenticated("Enter the 6-digit code from your authenticator app.", code="totp-required")
        timecode = _verify_totp(
            ctx.totp_box.decrypt(user.totp_secret_enc or "", user.id.bytes), totp_code, ctx.clock.now()
        )
        if timecode is None or (user.totp_last_timecode is not None and timecode <= user.totp_last_timecode):
            raise await fail(
                "bad_totp",
                NotAuthenticated(
                    "The authenticator code is wrong or was already used; wait for the next code.", code="invalid-totp"
                ),
            )
        user.totp_last_timecode = timecode
    if ctx.passwords.needs_rehash(user.password_hash):
        user.password_hash = ctx.passwords.hash(password)
    user.failed_login_count = 0
    user.locked_until = None
    user.last_login_at = now
    token = new_token()
    user_session = UserSession(
        tenant_id=tenant.id,
        user_id=user.id,
        token_hash=token_hash(token),
        csrf_token=new_token(nbytes=24),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_absolute_hours),
        ip=ip,
        user_agent=(user_agent or "")[:300] or None,
    )
    session.add(user_session)
    await session.flush()
    actor = Actor(
        ActorKind.USER, tenant.id, user.id, user.username, ip=ip, user_agent=user_agent, session_id=user_session.id
    )
    await audit.record(
        session,
        actor,
        "auth.login",
        target_type="user",
        target_id=user.id,
        details={"session_id": str(user_session.id), "mfa": user.totp_enabled},
    )
    return SignIn(user, user_session, token)


def _locked_error(user: User, max_failures: int, now: datetime) -> TooManyRequests:
    assert user.locked_until is not None
    until = user.locked_until.strftime("%H:%M UTC")
    retry = max(1, int((user.locked_until - now).total_seconds()))
    return TooManyRequests(
        f"This account is locked after {max_failures} failed sign-ins. Try again after {until}, "
        "or ask an administrator to unlock it.",
        retry_after=retry,
        code="account-locked",
    )


def _verify_totp(secret: str, code: str, now: float) -> int | None:
    """The accepted time step, allowing one step of clock drift either way."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(datetime.fromtimestamp(now, UTC))
    for step in (current - 1, current, current + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None


async def do_logout(session: AsyncSession, actor: Actor) -> None:
    if actor.session_id is None:
        return
    now = context_of(session).now()
    await session.execute(
        sa.update(UserSession)
        .where(
            UserSession.id == actor.session_id, UserSession.tenant_id == actor.tenant_id, UserSession.ended_at.is_(None)
        )
        .values(ended_at=now, end_reason="logout")
    )
    await audit.record(session, actor, "auth.logout", target_type="user", target_id=actor.id)


async def authenticate_session(session: AsyncSession, tenant: Tenant, token: str) -> tuple[Actor, UserSession]:
    """The actor behind a session cookie, or a NotAuthenticated that says why not."""
    ctx = context_of(session)
    now = ctx.now()
    row = (
        await session.execute(
            sa.select(UserSession).where(
                UserSession.token_hash == token_hash(token), UserSession.tenant_id == tenant.id
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotAuthenticated("Sign in first.", code="not-authenticated")
    if row.ended_at is not None:
        reason = row.end_reason or "expired"
        raise NotAuthenticated(
            _END_REASON_MESSAGES.get(reason, "Sign in again."),
            code="session-expired" if reason == "expired" else "session-ended",
        )
    idle_limit = timedelta(minutes=ctx.settings.session_idle_minutes)
    if row.expires_at <= now or row.last_seen_at + idle_limit <= now:
        row.ended_at = now
        row.end_reason = "expired"
        mark_commit_on_error(session)
        why = "after a period of inactivity" if row.expires_at > now else "at the end of its maximum length"
        raise NotAuthenticated(f"Your session expired {why}. Sign in again.", code="session-expired")
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active or user.tenant_id != tenant.id:
        raise NotAuthenticated(_END_REASON_MESSAGES["user_disabled"], code="session-ended")
    if now - row.last_seen_at >= SESSION_TOUCH_INTERVAL:
        row.last_seen_at = now
    actor = Actor(
        ActorKind.USER,
        tenant.id,
        user.id,
        user.username,
        permissions=frozenset(permissions_for(user.roles)),
        roles=tuple(user.roles),
        session_id=row.id,
        department_id=user.department_id,
    )
    return actor, row


async def authenticate_api_token(session: AsyncSession, tenant: Tenant, token: str) -> Actor:
    ctx = context_of(session)
    now = ctx.now()
    row = (
        await session.execute(
            sa.select(ApiToken).where(ApiToken.token_hash == token_hash(token), ApiToken.tenant_id == tenant.id)
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotAuthenticated("This API token is not valid for this organisation.", code="invalid-token")
    if row.revoked_at is not None:
        raise NotAuthenticated(
            f"This API token was revoked on {row.revoked_at:%Y-%m-%d %H:%M} UTC; create a new one.",
            code="token-revoked",
        )
    if row.expires_at is not None and row.expires_at <= now:
        raise NotAuthenticated(
            f"This API token expired on {row.expires_at:%Y-%m-%d}; create a new one.", code="token-expired"
        )
    if row.last_used_at is None or now - row.last_used_at >= SESSION_TOUCH_INTERVAL:
        row.last_used_at = now
    return Actor(
        ActorKind.API_TOKEN, tenant.id, row.id, f"token:{row.name}", permissions=frozenset(row.scopes), roles=()
    )


# --------------------------------------------------------------------------- API tokens


async def do_create_api_token(
    session: AsyncSession, actor: Actor, *, name: str, scopes: list[str], expires_in_days: int | None
) -> tuple[ApiToken, str]:
    require(actor, Permission.TOKENS_MANAGE)
    try:
        parsed = parse_scopes(scopes)
    except ValueError as exc:
        raise _invalid(str(exc), "scopes") from None
    beyond = [p for p in parsed if not actor.can(p)]
    if beyond:
        raise PermissionDenied(f"You cannot grant scopes you do not hold: {', '.join(beyond)}.")
    if (
        await session.execute(
            sa.select(ApiToken.id).where(ApiToken.tenant_id == actor.tenant_id, ApiToken.name == name)
        )
    ).first():
        raise Conflict(f"An API token named {name!r} already exists; choose another name.")
    ctx = context_of(session)
    now = ctx.now()
    secret = new_token(API_TOKEN_PREFIX)
    assert actor.tenant_id is not None
    row = ApiToken(
        tenant_id=actor.tenant_id,
        name=name,
        prefix=secret[:12],
        token_hash=token_hash(secret),
        scopes=[p.value for p in parsed],
        created_by=actor.user_id,
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        actor,
        "token.created",
        target_type="api_token",
        target_id=row.id,
        details={
            "name": name,
            "scopes": row.scopes,
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        },
    )
    return row, secret


async def do_revoke_api_token(session: AsyncSession, actor: Actor, token_id: uuid.UUID) -> ApiToken:
    require(actor, Permission.TOKENS_MANAGE)
    row = await access_api_token_by_id(session, actor, token_id)
    if row.revoked_at is None:
        row.revoked_at = context_of(session).now()
        row.revoked_by = actor.user_id
        await audit.record(
            session, actor, "token.revoked", target_type="api_token", target_id=row.id, details={"name": row.name}
        )
        await session.flush()
    return row


# --------------------------------------------------------------------------- TOTP


async def do_begin_totp_setup(session: AsyncSession, actor: Actor) -> tuple[str, str]:
    if actor.user_id is None:
        raise PermissionDenied("Only a signed-in person can set up an authenticator.")
    user = await access_user_by_id(session, actor, actor.user_id)
    if user.totp_enabled:
        raise Conflict("An authenticator is already set up; turn it off first to set up another.")
    ctx = context_of(session)
    secret = pyotp.random_base32()
    user.totp_secret_enc = ctx.totp_box.encrypt(secret, user.id.bytes)
    await session.flush()
    tenant = await session.get(Tenant, user.tenant_id)
    uri = pyotp.TOTP(secret).provisioning_uri(
        name=f"{user.username}@{tenant.slug if tenant else ''}", issuer_name="kefu"
    )
    return secret, uri


async def do_confirm_totp(session: AsyncSession, actor: Actor, code: str) -> None:
    if actor.user_id is None:
        raise PermissionDenied("Only a signed-in person can set up an authenticator.")
    user = await access_user_by_id(session, actor, actor.user_id)
    if user.totp_enabled:
        raise Conflict("The authenticator is already on.")
    if not user.totp_secret_enc:
        raise Conflict("Start the authenticator set-up first.")
    ctx = context_of(session)
    timecode = _verify_totp(ctx.totp_box.decrypt(user.totp_secret_enc, user.id.bytes), code, ctx.clock.now())
    if timecode is None:
        raise _invalid("The code does not match; check the time on your phone and try the next code.", "code")
    user.totp_enabled = True
    user.totp_last_timecode = timecode
    await audit.record(session, actor, "user.totp_enabled", target_type="user", target_id=user.id)
    await session.flush()


async def do_disable_totp(session: AsyncSession, actor: Actor, password: str) -> None:
    if actor.user_id is None:
        raise PermissionDenied("Only a signed-in person can change their authenticator.")
    user = await access_user_by_id(session, actor, actor.user_id)
    if not context_of(session).passwords.verify(user.password_hash, password):
        raise _invalid("The password is wrong.", "password")
    if user.totp_enabled or user.totp_secret_enc:
        user.totp_enabled = False
        user.totp_secret_enc = None
        user.totp_last_timecode = None
        await audit.record(session, actor, "user.totp_disabled", target_type="user", target_id=user.id)
        await session.flush()


# --------------------------------------------------------------------------- platform operators


async def do_create_operator(
    session: AsyncSession, actor: Actor, *, username: str, password: str, display_name: str | None = None
) -> PlatformOperator:
    if actor.kind is not ActorKind.SYSTEM:
        raise PermissionDenied("Platform operators are created from the command line.")
    username = username.lower()
    if problem := username_problem(username):
        raise _invalid(problem, "username")
    _check_password(password, username)
    if (await session.execute(sa.select(PlatformOperator.id).where(PlatformOperator.username == username))).first():
        raise Conflict(f"An operator called {username!r} already exists.")
    operator = PlatformOperator(
        username=username,
        display_name=display_name or username,
        password_hash=context_of(session).passwords.hash(password),
    )
    session.add(operator)
    await session.flush()
    await audit.record(
        session,
        actor,
        "operator.created",
        target_type="operator",
        target_id=operator.id,
        tenant_id=None,
        details={"username": username},
    )
    return operator


async def do_operator_login(
    session: AsyncSession, *, username: str, password: str, ip: str | None, user_agent: str | None
) -> tuple[PlatformOperator, str]:
    ctx = context_of(session)
    limiter = _limiter(session)
    key = f"platform:{ip}"
    if (retry := limiter.retry_after(key, ctx.clock.now())) is not None:
        raise TooManyRequests(
            f"Too many sign-in attempts; wait {retry} seconds.", retry_after=retry, code="login-throttled"
        )
    operator = (
        await session.execute(sa.select(PlatformOperator).where(PlatformOperator.username == username.lower()))
    ).scalar_one_or_none()
    if (
        not ctx.passwords.verify(operator.password_hash if operator else None, password)
        or operator is None
        or not operator.is_active
    ):
        limiter.hit(key, ctx.clock.now())
        await audit.record(
            session,
            Actor(ActorKind.ANONYMOUS, None, None, username.lower()[:64], ip=ip, user_agent=user_agent),
            "operator.login_failed",
            outcome="failure",
            tenant_id=None,
        )
        mark_commit_on_error(session)
        raise NotAuthenticated("Wrong username or password.", code="invalid-credentials")
    token = new_token()
    now = ctx.now()
    session.add(
        PlatformSession(
            operator_id=operator.id,
            token_hash=token_hash(token),
            created_at=now,
            expires_at=now + timedelta(hours=ctx.settings.session_absolute_hours),
        )
    )
    await audit.record(
        session,
        Actor(ActorKind.OPERATOR, None, operator.id, operator.username, ip=ip, user_agent=user_agent),
        "operator.login",
        tenant_id=None,
    )
    await session.flush()
    return operator, token


async def authenticate_operator(session: AsyncSession, token: str) -> Actor:
    now = context_of(session).now()
    row = (
        await session.execute(sa.select(PlatformSession).where(PlatformSession.token_hash == token_hash(token)))
    ).scalar_one_or_none()
    if row is None or row.ended_at is not None:
        raise NotAuthenticated("Sign in as a platform operator first.", code="not-authenticated")
    if row.expires_at <= now:
        raise NotAuthenticated("Your operator session expired. Sign in again.", code="session-expired")
    operator = await session.get(PlatformOperator, row.operator_id)
    if operator is None or not operator.is_active:
        raise NotAuthenticated("This operator account is disabled.", code="account-disabled")
    return Actor(ActorKind.OPERATOR, None, operator.id, operator.username)


async def do_set_tenant_active(session: AsyncSession, actor: Actor, tenant_id: uuid.UUID, active: bool) -> Tenant:
    if actor.kind not in (ActorKind.OPERATOR, ActorKind.SYSTEM):
        raise PermissionDenied("Only a platform operator can suspend or resume organisations.")
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("No such organisation.")
    if tenant.is_active != active:
        tenant.is_active = active
        await audit.record(
            session,
            actor,
            "tenant.resumed" if active else "tenant.suspended",
            target_type="tenant",
            target_id=tenant.id,
            tenant_id=None,
        )
        await session.flush()
    return tenant
