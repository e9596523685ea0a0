"""The default SMS adapter: one JSON line per message in ``<data_dir>/sms/outbox.jsonl``.

This file **stands in for an SMS provider** (development, tests, the demo, installations that
have no provider yet): each line is what a provider would have received, *with the full phone
number*, so treat the file as customer data (it lives in the data directory, mode 0600).

It behaves like a good provider:

* **idempotent** — a message whose idempotency key is already in the file is not written again;
  the send returns the first result. The index of keys is rebuilt from the file when the adapter
  starts and refreshed from the file's tail before every send, under an exclusive ``flock``, so it
  holds across restarts and across several relay processes sharing the file;
* **immediately delivered** — results come back ``delivered``;
* a line cut short by a crash is ignored (and the next line starts on a fresh line).

``delay_seconds`` (``KEFU_SMS_LOGFILE_DELAY_SECONDS``) is a TEST-ONLY pause after a line is written
and before the send returns, so crash tests can kill the relay between "provider has it" and
"outbox knows it".
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kefu.messaging.port import OutgoingSms, SendResult, TransientSmsError

PROVIDER = "logfile"


def read_outbox_file(path: Path) -> list[dict[str, Any]]:
    """Every complete, well-formed line of an outbox file (torn lines are skipped)."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_bytes().split(b"\n"):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "idempotency_key" in entry:
            entries.append(entry)
    return entries


class LogFileSmsAdapter:
    name = PROVIDER

    def __init__(self, path: Path, *, delay_seconds: float = 0.0) -> None:
        self.path = Path(path)
        self.delay_seconds = delay_seconds
        self._sent: dict[str, str] = {}  # idempotency key -> provider message id
        self._offset = 0
        self._lock = asyncio.Lock()

    async def send(self, message: OutgoingSms) -> SendResult:
        async with self._lock:
            try:
                provider_id, written = await asyncio.to_thread(self._append_once, message)
            except OSError as exc:
                raise TransientSmsError(f"could not write the SMS outbox file: {exc.strerror}") from None
        if written and self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        return SendResult(provider=PROVIDER, provider_message_id=provider_id, status="delivered")

    # ------------------------------------------------------------------ file work (in a thread)

    def _append_once(self, message: OutgoingSms) -> tuple[str, bool]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            needs_newline = self._catch_up(fd)
            key = message.idempotency_key
            if key in self._sent:
                return self._sent[key], False
            provider_id = f"log-{key}"
            line = (
                json.dumps(
                    {
                        "idempotency_key": key,
                        "message_id": str(message.message_id),
                        "provider_message_id": provider_id,
                        "tenant_id": str(message.tenant_id),
                        "to": message.to_number,
                        "sender_id": message.sender_id,
                        "purpose": message.purpose,
                        "body": message.body,
                        "written_at": datetime.now(UTC).isoformat(),
                    },
                    ensure_ascii=False,
                ).encode()
                + b"\n"
            )
            data = (b"\n" if needs_newline else b"") + line
            os.write(fd, data)
            os.fsync(fd)
            self._offset = os.fstat(fd).st_size  # we hold the lock: everything up to here is indexed
            self._sent[key] = provider_id
            return provider_id, True
        finally:
            os.close(fd)  # also releases the flock

    def _catch_up(self, fd: int) -> bool:
        """Index lines appended since we last looked (by us before a restart, or by another process).

        Returns True when the file ends in a torn line (no newline): the next write starts a new line.
        """
        size = os.fstat(fd).st_size
        if size < self._offset:  # truncated or replaced: start over
            self._sent.clear()
            self._offset = 0
        if size == self._offset:
            return size > 0 and os.pread(fd, 1, size - 1) != b"\n"
        chunk = os.pread(fd, size - self._offset, self._offset)
        complete, _, _torn = chunk.rpartition(b"\n")
        for raw in complete.split(b"\n"):
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict) and "idempotency_key" in entry:
                self._sent[str(entry["idempotency_key"])] = str(entry.get("provider_message_id", ""))
        consumed = len(complete) + 1 if complete or chunk.startswith(b"\n") else 0
        self._offset += consumed
        return not chunk.endswith(b"\n")
