"""Who is acting: the principal every action receives and every audit record names."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from enum import StrEnum


class ActorKind(StrEnum):
    USER = "user"
    API_TOKEN = "api_token"  # noqa: S105 - a kind name, not a secret
    OPERATOR = "operator"  # platform operator, above tenants
    SYSTEM = "system"  # jobs, the CLI, the simulated call center
    ANONYMOUS = "anonymous"  # before authentication (failed logins)


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    tenant_id: uuid.UUID | None
    id: uuid.UUID | None
    name: str
    permissions: frozenset[str] = field(default_factory=frozenset)
    roles: tuple[str, ...] = ()
    ip: str | None = None
    user_agent: str | None = None
    session_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def user_id(self) -> uuid.UUID | None:
        return self.id if self.kind is ActorKind.USER else None

    def with_origin(self, ip: str | None, user_agent: str | None) -> Actor:
        return replace(self, ip=ip, user_agent=user_agent)

    @classmethod
    def system(cls, name: str, tenant_id: uuid.UUID | None = None, permissions: frozenset[str] | None = None) -> Actor:
        return cls(ActorKind.SYSTEM, tenant_id, None, name, permissions or frozenset())

    @classmethod
    def anonymous(cls, tenant_id: uuid.UUID | None, ip: str | None = None, user_agent: str | None = None) -> Actor:
        return cls(ActorKind.ANONYMOUS, tenant_id, None, "anonymous", frozenset(), ip=ip, user_agent=user_agent)
