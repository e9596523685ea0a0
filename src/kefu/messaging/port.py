"""The SMS port: what the outbox relay asks of an SMS provider.

Contract
========

* :meth:`SmsPort.send` hands one message to the provider and returns a :class:`SendResult`
  (the provider's message id and ``sent`` — accepted — or ``delivered``).
* ``OutgoingSms.idempotency_key`` (the outbox message id) is the provider-side idempotency key:
  sending the same key twice must not produce a second SMS. The relay delivers *at least once*
  (a crash between the provider's answer and our commit sends again), so this key is what makes
  it *exactly once* at the provider.
* Failures raise :class:`TransientSmsError` (timeouts, 5xx, throttling: try again later) or
  :class:`PermanentSmsError` (the provider refused this message: do not retry it automatically).
  Any other exception is treated as transient by the relay.

Adapters live in :mod:`kefu.messaging.adapters` (``logfile``: the default, a JSON-lines file standing
in for a provider; ``http``: a generic HTTP provider). Only adapters talk to the outside world.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

__all__ = [
    "OutgoingSms",
    "PermanentSmsError",
    "SendResult",
    "SmsError",
    "SmsPort",
    "TransientSmsError",
]


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    message_id: uuid.UUID
    tenant_id: uuid.UUID
    #: E.164 (or a short service number), in full: only adapters see it unmasked.
    to_number: str
    body: str
    sender_id: str
    purpose: str = ""
    #: Bumped when staff re-send a message the provider had already accepted (the key must change).
    generation: int = 0
    #: Where the provider should post delivery reports for this message (HTTP adapter), if known.
    status_callback: str | None = None

    @property
    def idempotency_key(self) -> str:
        return str(self.message_id) if self.generation == 0 else f"{self.message_id}.{self.generation}"


@dataclass(frozen=True, slots=True)
class SendResult:
    provider: str
    provider_message_id: str
    #: ``sent`` (accepted by the provider; a delivery report may follow) or ``delivered``.
    status: Literal["sent", "delivered"] = "sent"


class SmsError(Exception):
    """A provider failure; ``str(exc)`` is stored as the message's last error (no numbers in it)."""


class TransientSmsError(SmsError):
    """Try again later: timeout, connection error, provider 5xx or throttling."""


class PermanentSmsError(SmsError):
    """The provider refused this message (bad number, rejected content, bad credentials)."""


@runtime_checkable
class SmsPort(Protocol):
    #: Short provider name stored on each message (``logfile``, ``http``, …).
    name: str

    async def send(self, message: OutgoingSms) -> SendResult: ...
