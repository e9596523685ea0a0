"""The clock port: real time in service, virtual time in simulation.

Engine code (router, simulated PBX, SLA timers) never calls ``time.time()`` or
``asyncio.sleep`` directly. It asks a :class:`Clock` for the current time and
schedules callbacks on it. Two implementations share one contract:

* :class:`RealClock` runs callbacks on the running asyncio loop at wall-clock
  times (service, demo).
* :class:`VirtualClock` keeps a heap of callbacks and jumps from one to the
  next (simulation, tests): a day of call-center traffic runs in seconds and
  always in the same order.

Times are POSIX seconds as ``float`` inside engines (cheap to compare and
store in heaps); :func:`to_datetime` / :func:`from_datetime` convert at the
edges, always timezone-aware UTC.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time as _time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

__all__ = [
    "Clock",
    "RealClock",
    "TimerHandle",
    "VirtualClock",
    "from_datetime",
    "to_datetime",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (for code without a clock port)."""
    return datetime.now(UTC)


def to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def from_datetime(dt: datetime) -> float:
    if dt.tzinfo is None:
        raise ValueError("naive datetime: all kefu times are timezone-aware UTC")
    return dt.timestamp()


class TimerHandle:
    """A scheduled callback; ``cancel()`` is idempotent and O(1)."""

    __slots__ = ("_asyncio_handle", "args", "callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False
        self._asyncio_handle: asyncio.TimerHandle | None = None

    def cancel(self) -> None:
        self.cancelled = True
        if self._asyncio_handle is not None:
            self._asyncio_handle.cancel()


class Clock(Protocol):
    def now(self) -> float:
        """Current time, POSIX seconds."""
        ...

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        """Run ``callback(*args)`` at ``when`` (immediately-ish if in the past)."""
        ...

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> TimerHandle: ...


class RealClock:
    """Wall-clock time; callbacks run on the asyncio loop that is running when scheduled."""

    def now(self) -> float:
        return _time.time()

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        return self.call_later(when - _time.time(), callback, *args)

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        handle = TimerHandle(_time.time() + delay, callback, args)
        loop = asyncio.get_running_loop()
        handle._asyncio_handle = loop.call_later(max(0.0, delay), callback, *args)
        return handle


class VirtualClock:
    """Discrete-event time. ``run*`` methods execute callbacks in (time, order) order.

    Callbacks scheduled for the same instant run in the order they were scheduled,
    which makes every simulation reproducible for a given seed.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        if when < self._now:
            when = self._now
        handle = TimerHandle(when, callback, args)
        heapq.heappush(self._heap, (when, next(self._seq), handle))
        return handle

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        return self.call_at(self._now + delay, callback, *args)

    @property
    def pending(self) -> int:
        """Scheduled callbacks not yet run (cancelled ones included until they surface)."""
        return len(self._heap)

    def next_time(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def step(self) -> bool:
        """Run the next callback; False when nothing is scheduled."""
        heap = self._heap
        while heap:
            when, _, handle = heapq.heappop(heap)
            if handle.cancelled:
                continue
            self._now = when
            handle.callback(*handle.args)
            return True
        return False

    def run_until(self, until: float) -> None:
        """Run every callback due at or before ``until``, then set the time to ``until``."""
        heap = self._heap
        pop = heapq.heappop
        while heap and heap[0][0] <= until:
            when, _, handle = pop(heap)
            if handle.cancelled:
                continue
            self._now = when
            handle.callback(*handle.args)
        if until > self._now:
            self._now = until

    def advance(self, seconds: float) -> None:
        self.run_until(self._now + seconds)

    def run(self, stop: Callable[[], bool] | None = None) -> None:
        """Run until nothing is scheduled (or ``stop()`` returns True after a callback)."""
        heap = self._heap
        pop = heapq.heappop
        while heap:
            when, _, handle = pop(heap)
            if handle.cancelled:
                continue
            self._now = when
            handle.callback(*handle.args)
            if stop is not None and stop():
                return
