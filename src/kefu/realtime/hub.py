"""In-process publish/subscribe hub with per-tenant ordering and replay.

One hub per process (``ctx.services["hub"]``). Messages of one tenant are
numbered 1, 2, 3 … in publish order; an SSE event id is ``"<epoch>.<seq>"``
where ``epoch`` identifies this hub instance, so a client reconnecting to a
restarted server (numbers start again) is told to resync instead of silently
missing events. Slow consumers never block publishers: a subscription whose
queue overflows is closed with a ``resync`` and the client reconnects.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Message:
    tenant_id: uuid.UUID
    seq: int
    topic: str
    type: str
    data: dict[str, Any]
    #: Wall-clock publish time (time.time()), for latency measurements.
    published_at: float


RESYNC = "resync"


@dataclass(eq=False)
class Subscription:
    tenant_id: uuid.UUID
    topics: frozenset[str]
    queue: asyncio.Queue[Message | None] = field(default_factory=lambda: asyncio.Queue(maxsize=2000))
    closed: bool = False
    needs_resync: bool = False

    def wants(self, topic: str) -> bool:
        if topic in self.topics:
            return True
        prefix = topic.split(":", 1)[0] + ":*"
        return prefix in self.topics


class Hub:
    def __init__(self, buffer_size: int = 20_000) -> None:
        self.epoch = secrets.token_hex(4)
        self.buffer_size = buffer_size
        self._seq: dict[uuid.UUID, itertools.count[int]] = {}
        self._buffers: dict[uuid.UUID, deque[Message]] = {}
        self._subs: dict[uuid.UUID, set[Subscription]] = {}

    # ---------------------------------------------------------------- publishing

    def publish(self, tenant_id: uuid.UUID, topic: str, type_: str, data: dict[str, Any]) -> Message:
        counter = self._seq.get(tenant_id)
        if counter is None:
            counter = self._seq[tenant_id] = itertools.count(1)
            self._buffers[tenant_id] = deque(maxlen=self.buffer_size)
        message = Message(tenant_id, next(counter), topic, type_, data, time.time())
        self._buffers[tenant_id].append(message)
        for sub in tuple(self._subs.get(tenant_id, ())):
            if sub.closed or not sub.wants(topic):
                continue
            try:
                sub.queue.put_nowait(message)
            except asyncio.QueueFull:
                self._overflow(sub)
        return message

    def _overflow(self, sub: Subscription) -> None:
        sub.needs_resync = True
        self.unsubscribe(sub)
        while True:  # make room for the end-of-stream marker
            try:
                sub.queue.get_nowait()
            except asyncio.QueueEmpty:
                break
        sub.queue.put_nowait(None)

    # ---------------------------------------------------------------- subscribing

    def event_id(self, message: Message) -> str:
        return f"{self.epoch}.{message.seq}"

    def last_seq(self, tenant_id: uuid.UUID) -> int:
        buffer = self._buffers.get(tenant_id)
        return buffer[-1].seq if buffer else 0

    def subscribe(
        self,
        tenant_id: uuid.UUID,
        topics: Iterable[str],
        last_event_id: str | None = None,
    ) -> tuple[Subscription, list[Message], bool]:
        """Subscribe; returns (subscription, messages to replay first, whether the client must resync)."""
        sub = Subscription(tenant_id, frozenset(topics))
        self._subs.setdefault(tenant_id, set()).add(sub)
        replay: list[Message] = []
        resync = False
        if last_event_id:
            epoch, _, seq_text = last_event_id.partition(".")
            try:
                after = int(seq_text)
            except ValueError:
                after = -1
            buffer = self._buffers.get(tenant_id, deque())
            oldest = buffer[0].seq if buffer else self.last_seq(tenant_id) + 1
            if epoch != self.epoch or after < 0 or after > self.last_seq(tenant_id) or after + 1 < oldest:
                resync = True
            else:
                replay = [m for m in buffer if m.seq > after and sub.wants(m.topic)]
        return sub, replay, resync

    def unsubscribe(self, sub: Subscription) -> None:
        sub.closed = True
        subs = self._subs.get(sub.tenant_id)
        if subs is not None:
            subs.discard(sub)

    def subscriber_count(self, tenant_id: uuid.UUID | None = None) -> int:
        if tenant_id is not None:
            return len(self._subs.get(tenant_id, ()))
        return sum(len(s) for s in self._subs.values())
