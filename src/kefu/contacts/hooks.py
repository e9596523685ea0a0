"""Extension points of the call controller for other domains.

A domain registers, at import, what its IVR conditions and self-service leaves
do, and what follows a wrap-up; ``kefu.domains.CALL_HOOK_MODULES`` lists the
modules the controller (and the wrap-up action) import. Providers get a :class:`CallContext` (never the controller's
internals) and the process context.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class CallContext:
    tenant_id: uuid.UUID
    call_id: uuid.UUID
    #: The customer's number, E.164 (PII: use it, do not log or display it).
    number: str
    tenant_number: str


ConditionProvider = Callable[[Any, CallContext], Awaitable[bool]]
SelfServiceAction = Callable[[Any, CallContext], Awaitable[str | None]]

#: IVR ``condition`` attribute → provider answering it (``vip``, ``incident_in_area`` …).
CONDITION_PROVIDERS: dict[str, ConditionProvider] = {}
#: IVR ``self_service`` action → what it does; it may return a text to say or send instead of the default.
SELF_SERVICE_ACTIONS: dict[str, SelfServiceAction] = {}


def condition(name: str) -> Callable[[ConditionProvider], ConditionProvider]:
    def register(fn: ConditionProvider) -> ConditionProvider:
        CONDITION_PROVIDERS[name] = fn
        return fn

    return register


def self_service(name: str) -> Callable[[SelfServiceAction], SelfServiceAction]:
    def register(fn: SelfServiceAction) -> SelfServiceAction:
        SELF_SERVICE_ACTIONS[name] = fn
        return fn

    return register


@dataclass(frozen=True)
class WrappedUpCall:
    """A call its agent has just wrapped up (in the wrap-up's transaction)."""

    tenant_id: uuid.UUID
    call_id: uuid.UUID
    customer_id: uuid.UUID | None
    #: The blind index of the customer's number (never the number itself).
    number_index: str | None
    code: str
    #: The complaint category the tenant maps this wrap-up code to, or None when it is not a complaint.
    complaint_category: str | None
    at: datetime


#: Run by ``do_wrap_up`` inside its transaction with ``(session, WrappedUpCall)``; an error undoes the wrap-up.
WrapUpHook = Callable[[Any, WrappedUpCall], Awaitable[None]]
WRAP_UP_HOOKS: list[WrapUpHook] = []


def on_wrap_up(fn: WrapUpHook) -> WrapUpHook:
    if fn not in WRAP_UP_HOOKS:
        WRAP_UP_HOOKS.append(fn)
    return fn
