"""Pure rules of the tenancy domain: roles, permissions, password and lockout policy.

Roles map to permissions here and nowhere else. A route declares the one
permission it needs; an API token carries a subset of permissions as scopes.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum

from kefu.core.i18n import N_


class Role(StrEnum):
    TENANT_ADMIN = "tenant_admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    BACK_OFFICE = "back_office"
    QA_INSPECTOR = "qa_inspector"
    SECURITY_AUDITOR = "security_auditor"


class Permission(StrEnum):
    # tenancy
    USERS_READ = "users.read"
    USERS_MANAGE = "users.manage"
    ROLES_ASSIGN = "roles.assign"
    DEPARTMENTS_READ = "departments.read"
    DEPARTMENTS_MANAGE = "departments.manage"
    TOKENS_MANAGE = "tokens.manage"
    SETTINGS_READ = "settings.read"
    SETTINGS_MANAGE = "settings.manage"
    # audit
    AUDIT_READ = "audit.read"
    # real-time views
    WALLBOARD_READ = "wallboard.read"
    ALERTS_READ = "alerts.read"
    INCIDENTS_MANAGE = "incidents.manage"
    # routing
    ROUTING_READ = "routing.read"
    ROUTING_MANAGE = "routing.manage"
    AGENT_STATUS = "agent.status"
    AGENTS_SUPERVISE = "agents.supervise"
    TASKS_CREATE = "tasks.create"
    TASKS_HANDLE = "tasks.handle"
    # calls
    CALLS_HANDLE = "calls.handle"
    CALLS_READ = "calls.read"
    CALLS_READ_ALL = "calls.read_all"
    CALLS_MANAGE = "calls.manage"
    RECORDINGS_PLAY = "recordings.play"
    RECORDINGS_DOWNLOAD = "recordings.download"
    # messaging (SMS outbox)
    SMS_READ = "sms.read"
    SMS_MANAGE = "sms.manage"
    # customers (PII masked by default; reveal is a separate, audited right)
    CUSTOMERS_READ = "customers.read"
    CUSTOMERS_MANAGE = "customers.manage"
    CUSTOMERS_REVEAL = "customers.reveal"
    # complaint work orders, refund authority, complaint KPIs
    WORKORDERS_CREATE = "workorders.create"
    WORKORDERS_READ = "workorders.read"
    WORKORDERS_HANDLE = "workorders.handle"
    WORKORDERS_DISPATCH = "workorders.dispatch"
    WORKORDERS_ADMIN = "workorders.admin"
    REFUNDS_ISSUE = "refunds.issue"
    REFUNDS_APPROVE = "refunds.approve"
    KPI_READ = "kpi.read"
    KPI_EXPORT = "kpi.export"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {}


def grant(roles: list[Role], *permissions: Permission) -> None:
    """Give ``permissions`` to each of ``roles`` (called once per group below, at import)."""
    for role in roles:
        ROLE_PERMISSIONS[role] = ROLE_PERMISSIONS.get(role, frozenset()) | frozenset(permissions)


_R = Role
_P = Permission
# Tenant administrators manage their organisation. Separation of duties (GB/T 35273 §7.1): the
# security auditor reads the logs and nothing else; the administrator cannot read or alter them.
grant([_R.TENANT_ADMIN], _P.USERS_MANAGE, _P.ROLES_ASSIGN, _P.DEPARTMENTS_MANAGE, _P.TOKENS_MANAGE,
      _P.SETTINGS_MANAGE)
grant([_R.TENANT_ADMIN, _R.SUPERVISOR, _R.QA_INSPECTOR, _R.SECURITY_AUDITOR], _P.USERS_READ)
grant([_R.TENANT_ADMIN, _R.SUPERVISOR, _R.AGENT, _R.BACK_OFFICE, _R.QA_INSPECTOR], _P.DEPARTMENTS_READ)
grant([_R.TENANT_ADMIN, _R.SUPERVISOR], _P.SETTINGS_READ, _P.WALLBOARD_READ, _P.ALERTS_READ)
grant([_R.SECURITY_AUDITOR], _P.AUDIT_READ)
# Each domain adds its grants below, one grant() line per group of permissions.
# routing: admins configure; supervisors watch and steer agents; agents set their own status and take tasks.
grant([_R.TENANT_ADMIN], _P.ROUTING_MANAGE, _P.TASKS_CREATE)
grant([_R.TENANT_ADMIN, _R.SUPERVISOR], _P.ROUTING_READ, _P.AGENTS_SUPERVISE)
grant([_R.SUPERVISOR, _R.AGENT, _R.BACK_OFFICE], _P.AGENT_STATUS, _P.TASKS_HANDLE)
# calls: agents and supervisors take calls; everyone who handles or reviews calls reads their own history,
# supervisors, QA and admins read all of it; recordings are for supervisors and QA (download: supervisors).
grant([_R.SUPERVISOR, _R.AGENT], _P.CALLS_HANDLE)
grant([_R.TENANT_ADMIN, _R.SUPERVISOR, _R.AGENT, _R.QA_INSPECTOR], _P.CALLS_READ)
grant([_R.TENANT_ADMIN, _R.SUPERVISOR, _R.QA_INSPECTOR], _P.CALLS_READ_ALL)
grant([_R.TENANT_ADMIN], _P.CALLS_MANAGE)
grant([_R.SUPERVISOR, _R.QA_INSPECTOR], _P.RECORDINGS_PLAY)
grant([_R.SUPERVISOR], _P.RECORDINGS_DOWNLOAD)
grant([_R.TENANT_ADMIN, _R.SUPERVISOR], _P.SMS_READ)
grant([_R.TENANT_ADMIN], _P.SMS_MANAGE)
# Customers and work orders. Agents see customers masked (no reveal by default: a supervisor reveals, with a
# reason); the administrator configures categories, SLA and authority policies but neither reveals PII nor
# moves money (refunds are for operational roles; a supervisor approves what an agent may not do alone).
grant([_R.TENANT_ADMIN, _R.SUPERVISOR, _R.AGENT, _R.BACK_OFFICE], _P.CUSTOMERS_READ)
grant([_R.TENANT_ADMIN, _R.SUPERVISOR, _R.AGENT], _P.CUSTOMERS_MANAGE)
grant([_R.SUPERVISOR], _P.CUSTOMERS_REVEAL)
grant([_R.TENANT_ADMIN, _R.SUPERVISOR, _R.AGENT, _R.BACK_OFFICE, _R.QA_INSPECTOR], _P.WORKORDERS_READ)
grant([_R.TENANT_ADMIN, _R.SUPERVISOR, _R.AGENT], _P.WORKORDERS_CREATE, _P.WORKORDERS_DISPATCH)
grant([_R.TENANT_ADMIN, _R.SUPERVISOR, _R.AGENT, _R.BACK_OFFICE], _P.WORKORDERS_HANDLE)
grant([_R.TENANT_ADMIN], _P.WORKORDERS_ADMIN)
grant([_R.SUPERVISOR, _R.AGENT], _P.REFUNDS_ISSUE)
grant([_R.SUPERVISOR], _P.REFUNDS_APPROVE)
grant([_R.TENANT_ADMIN, _R.SUPERVISOR, _R.QA_INSPECTOR], _P.KPI_READ)
grant([_R.TENANT_ADMIN, _R.SUPERVISOR], _P.KPI_EXPORT)
# early warning: supervisors open incidents from alerts (one master order, dispatched once) and resolve them.
grant([_R.SUPERVISOR], _P.INCIDENTS_MANAGE)

ROLE_LABELS: dict[str, str] = {
    Role.TENANT_ADMIN: N_("Tenant administrator"),
    Role.SUPERVISOR: N_("Supervisor"),
    Role.AGENT: N_("Agent"),
    Role.BACK_OFFICE: N_("Back-office handler"),
    Role.QA_INSPECTOR: N_("QA inspector"),
    Role.SECURITY_AUDITOR: N_("Security auditor"),
}

#: Roles only a tenant admin may hand out.
PRIVILEGED_ROLES = frozenset({Role.TENANT_ADMIN, Role.SECURITY_AUDITOR})


def permissions_for(roles: list[str] | tuple[str, ...] | frozenset[str]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for name in roles:
        granted |= ROLE_PERMISSIONS.get(Role(name), frozenset())
    return frozenset(granted)


def parse_roles(names: list[str]) -> list[Role]:
    """Validate role names; raises ValueError naming the unknown one."""
    roles = []
    for name in names:
        try:
            role = Role(name)
        except ValueError:
            known = ", ".join(r.value for r in Role)
            raise ValueError(f"unknown role {name!r}; known roles: {known}") from None
        if role not in roles:
            roles.append(role)
    return roles


def parse_scopes(names: list[str]) -> list[Permission]:
    scopes = []
    for name in names:
        try:
            perm = Permission(name)
        except ValueError:
            raise ValueError(f"unknown scope {name!r}; scopes are permission names such as 'users.read'") from None
        if perm not in scopes:
            scopes.append(perm)
    return scopes


# --------------------------------------------------------------------------- passwords

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
_COMMON_PASSWORDS = frozenset(
    {
        "password", "password1", "12345678", "123456789", "1234567890", "qwertyui", "qwerty123",
        "11111111", "00000000", "88888888", "66666666", "abc12345", "abcd1234", "iloveyou",
        "admin123", "admin1234", "administrator", "welcome1", "passw0rd", "1qaz2wsx", "a1234567",
        "woaini1314", "5201314520", "aa123456", "123123123", "zxcvbnm1", "changeme",
    }
)
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}[a-z0-9]$")
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")


def password_problem(password: str, *, username: str = "") -> str | None:
    """Why a new password is unacceptable, or None (ASVS 6.2: length and a deny list, no composition rules)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Password must be at least {MIN_PASSWORD_LENGTH} characters long."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Password must be at most {MAX_PASSWORD_LENGTH} characters long."
    lowered = password.lower()
    if lowered in _COMMON_PASSWORDS:
        return "This password is too common; choose another."
    if username and lowered == username.lower():
        return "Password must not be the same as the username."
    return None


def username_problem(username: str) -> str | None:
    if not USERNAME_RE.match(username):
        return (
            "Username must be 3-64 characters of lowercase letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit."
        )
    return None


def slug_problem(slug: str) -> str | None:
    if not SLUG_RE.match(slug):
        return "Tenant slug must be 1-40 characters of lowercase letters, digits and '-'."
    return None


# --------------------------------------------------------------------------- lockout


def lockout_after_failure(
    failures: int, now: datetime, *, max_failures: int, lockout: timedelta
) -> datetime | None:
    """When the account unlocks after its ``failures``-th consecutive failure (None: not locked)."""
    if failures >= max_failures:
        return now + lockout
    return None


class SlidingWindowLimiter:
    """At most ``limit`` hits per ``window`` seconds per key (in-process; used for login throttling)."""

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._hits: dict[str, list[float]] = {}

    def retry_after(self, key: str, now: float) -> int | None:
        """Seconds until another hit is allowed, or None if allowed now."""
        hits = self._hits.get(key)
        if not hits:
            return None
        cutoff = now - self.window
        while hits and hits[0] <= cutoff:
            hits.pop(0)
        if len(hits) < self.limit:
            return None
        return max(1, int(hits[0] + self.window - now + 0.999))

    def hit(self, key: str, now: float) -> None:
        if len(self._hits) >= self.max_keys and key not in self._hits:
            self._hits.clear()
        self._hits.setdefault(key, []).append(now)
