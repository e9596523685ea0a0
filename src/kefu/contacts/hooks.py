"""Extension points of the call controller for other domains.

A domain registers, at import, what its IVR conditions and self-service leaves
do; ``kefu.domains.CALL_HOOK_MODULES`` lists the modules the controller imports
when it starts. Providers get a :class:`CallContext` (never the controller's
internals) and the process context.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
