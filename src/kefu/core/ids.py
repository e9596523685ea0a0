"""Opaque, time-ordered identifiers (UUIDv7, RFC 9562).

Ids in URLs are never sequential counters; human-facing numbers (work-order
numbers) are separate fields. UUIDv7 keeps inserts index-friendly.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id() -> uuid.UUID:
    """A UUIDv7: 48-bit millisecond timestamp, 12-bit counter, 62 random bits.

    Ids generated in the same millisecond by this process stay ordered thanks
    to the counter (RFC 9562 §6.2, method 1).
    """
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
        counter = _counter
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand
    return uuid.UUID(int=value)
