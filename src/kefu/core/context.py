"""The application context: the services one process was built with.

``kefu.bootstrap`` builds exactly one :class:`Context` per process (settings,
clock, password hasher, derived keys, and the ports to the outside world) and
attaches it to every database session it hands out (``session.info``). Actions
receive the session and reach the services through :func:`context_of`, so no
module reads globals or the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from kefu.core.crypto import PasswordHasher, SecretBox, derive_key
from kefu.core.pii import TenantCrypto, tenant_crypto
from kefu.core.time import Clock, to_datetime

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from kefu.settings import Settings


@dataclass
class Context:
    settings: Settings
    clock: Clock
    passwords: PasswordHasher
    session_factory: async_sessionmaker[AsyncSession] | None = None
    #: Ports and process-wide services added by later domains (telephony, SMS, router registry, …).
    services: dict[str, Any] = field(default_factory=dict)

    def now(self) -> datetime:
        return to_datetime(self.clock.now()).astimezone(UTC)

    def key(self, purpose: str) -> bytes:
        return self._keys.setdefault(purpose, derive_key(self.settings.secret, purpose))

    @cached_property
    def _keys(self) -> dict[str, bytes]:
        return {}

    def pii(self, tenant: Any) -> TenantCrypto:
        """The PII encryption and blind-index keys of a tenant (a ``Tenant`` row)."""
        return tenant_crypto(self.settings.secret, tenant.id, tenant.pii_key_salt)

    @cached_property
    def totp_box(self) -> SecretBox:
        return SecretBox(self.key("totp-seeds"))


def context_of(session: AsyncSession) -> Context:
    try:
        return session.info["context"]
    except KeyError:
        raise RuntimeError("database session was not created by kefu.bootstrap (no context attached)") from None
