"""Pure rules of the messaging domain: statuses, limits, retry backoff, signatures, masking."""

from __future__ import annotations

import hashlib
import hmac
import random
import re
from datetime import timedelta
from enum import StrEnum

from kefu.core.pii import mask_phone


class SmsStatus(StrEnum):
    QUEUED = "queued"  # waiting for its first attempt (or re-queued by staff)
    SENDING = "sending"  # claimed by a relay: leased until ``lease_expires_at``
    SENT = "sent"  # accepted by the provider
    DELIVERED = "delivered"  # the provider confirmed delivery
    FAILED = "failed"  # the last attempt failed transiently; another is due at ``next_attempt_at``
    DEAD = "dead"  # no more attempts: refused, attempts used up, or reported undeliverable


#: Statuses the relay still has work for (rows with a ``next_attempt_at``).
PENDING_STATUSES = frozenset({SmsStatus.QUEUED, SmsStatus.SENDING, SmsStatus.FAILED})
#: Statuses a manual retry accepts.
RETRYABLE_STATUSES = frozenset({SmsStatus.DEAD})


class InboundStatus(StrEnum):
    UNMATCHED = "unmatched"  # no outbound message to this number expects a reply
    NO_HANDLER = "no_handler"  # matched, but nothing is registered for the original's purpose
    HANDLED = "handled"  # the purpose's reply handler took it
    HANDLER_FAILED = "handler_failed"  # the handler raised; its writes were rolled back, the reply kept


#: Well-known purposes (any ``[a-z][a-z0-9_]`` name is accepted).
KNOWN_PURPOSES = ("missed_call_notice", "callback_promise", "survey", "follow_up", "incident_fixed", "test")

MAX_BODY_CHARS = 500
MAX_DEDUPE_KEY = 200
MAX_REFERENCE_ID = 64
REPLY_WINDOW = timedelta(days=7)
MAX_HISTORY = 50

PURPOSE_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
REFERENCE_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
SENDER_ID_RE = re.compile(r"^[\w .\-]{1,20}$")


def purpose_problem(purpose: str) -> str | None:
    if not PURPOSE_RE.match(purpose or ""):
        return (
            f"SMS purpose {purpose!r} is not valid: use 2-40 lowercase letters, digits or '_', "
            f"e.g. {', '.join(KNOWN_PURPOSES[:3])}."
        )
    return None


def body_problem(body: str) -> str | None:
    if not body or not body.strip():
        return "The SMS text is empty."
    if len(body) > MAX_BODY_CHARS:
        return f"The SMS text is {len(body)} characters long; the limit is {MAX_BODY_CHARS}."
    return None


# --------------------------------------------------------------------------- retries


def backoff_delay(attempt: int, rng: random.Random, *, base: float = 30.0, cap: float = 3600.0) -> timedelta:
    """Delay before the attempt after failed attempt number ``attempt`` (1-based).

    Exponential (30 s, 60 s, 120 s … capped at an hour) with "equal jitter": half the step fixed,
    half drawn from ``rng`` — spreads retries out after a provider outage, and a seeded ``rng``
    makes it reproducible.
    """
    step = min(cap, base * (2 ** max(0, attempt - 1)))
    return timedelta(seconds=step / 2 + rng.random() * step / 2)


# --------------------------------------------------------------------------- signatures

SIGNATURE_HEADER = "X-Kefu-Signature"
TIMESTAMP_HEADER = "X-Kefu-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SIGNATURE_VERSION = "v1"


def signed_payload(timestamp: str, path: str, body: bytes) -> bytes:
    """What is signed: ``<timestamp>.<url path>.<raw body>`` (the path binds a callback to its tenant)."""
    return f"{timestamp}.{path}.".encode() + body


def sign(secret: bytes, timestamp: str, path: str, body: bytes) -> str:
    """The ``X-Kefu-Signature`` value: ``v1=<hex HMAC-SHA256>``."""
    digest = hmac.new(secret, signed_payload(timestamp, path, body), hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def signature_problem(
    secret: bytes, *, signature: str | None, timestamp: str | None, path: str, body: bytes, now: float, tolerance: float
) -> str | None:
    """Why a signed request must be refused, or None. Compares in constant time."""
    if not signature or not timestamp:
        return f"Missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header."
    try:
        sent_at = int(timestamp)
    except ValueError:
        return f"{TIMESTAMP_HEADER} must be a Unix time in seconds."
    expected = sign(secret, timestamp, path, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        return "The signature does not match the request."
    if abs(now - sent_at) > tolerance:
        return (
            f"The signed timestamp is {int(abs(now - sent_at))} s away from now (more than {int(tolerance)} s): "
            "a replayed or delayed request."
        )
    return None


# --------------------------------------------------------------------------- display

_NUMBER_RUN = re.compile(r"(?<!\d)(?:\+?\d{7,}|\d{3}[- ]\d{4}[- ]\d{4})(?!\d)")


def mask_numbers_in_text(text: str) -> str:
    """Mask every phone-number-like run of 7+ digits in a message text (``138****1234``)."""

    def _mask(match: re.Match[str]) -> str:
        digits = "".join(ch for ch in match.group(0) if ch.isdigit())
        if len(digits) < 7:
            return match.group(0)
        return mask_phone("+" + digits if match.group(0).startswith("+") else digits)

    return _NUMBER_RUN.sub(_mask, text)
