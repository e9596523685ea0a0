"""The issue's crash test: SIGKILL the relay process mid-send, restart it, every SMS goes out once.

The relay runs as a separate OS process (``python -m kefu.messaging.relay``) against the test's
database (a file SQLite database, or PostgreSQL) with the logfile adapter, which is made to pause
after writing each line (``KEFU_SMS_LOGFILE_DELAY_SECONDS``, a test-only setting): a message in
that pause is "at the provider" but not yet recorded as sent. The test freezes the process
(SIGSTOP) when it sees such a message, confirms it while nothing can move, and kills it (SIGKILL)
there — no sleeps, only waits on observable progress, each bounded in time.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from kefu.core.db import bind_tenant
from kefu.messaging import SmsMessage, queue_sms
from kefu.messaging.adapters.logfile import read_outbox_file

MESSAGES = 50
DEADLINE = 90.0


def _relay_env(settings: Any, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update(
        {
            "KEFU_DATA_DIR": str(settings.data_dir),
            "KEFU_DATABASE_URL": settings.resolved_database_url,
            "KEFU_SECRET_KEY": settings.secret_key.get_secret_value(),
            "KEFU_ENVIRONMENT": "test",
            "KEFU_SMS_PROVIDER": "logfile",
            "KEFU_SMS_LEASE_SECONDS": "2",
            "KEFU_SMS_RELAY_BATCH_SIZE": "5",
            "KEFU_SMS_RELAY_CONCURRENCY": "2",
            "KEFU_SMS_RELAY_POLL_SECONDS": "0.05",
            **extra,
        }
    )
    return env


def _start(settings: Any, log: Path, *args: str, **extra: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "kefu.messaging.relay", *args],
            env=_relay_env(settings, **extra),
            cwd=settings.data_dir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def _statuses(world: Any, settings: Any, tenant_id: uuid.UUID) -> dict[uuid.UUID, str]:
    """Every message's status, read without taking any lock the relay could be holding."""
    if settings.is_embedded_database:
        db = settings.data_dir / "kefu.db"
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            rows = conn.execute("select id, status from sms_outbox").fetchall()
        finally:
            conn.close()
        return {uuid.UUID(str(i)): s for i, s in rows}
    async with world.session() as s:
        await bind_tenant(s, tenant_id)
        rows = (await s.execute(sa.select(SmsMessage.id, SmsMessage.status))).all()
        await s.rollback()
    return {i: st for i, st in rows}


def _file_ids(path: Path) -> list[str]:
    return [e["message_id"] for e in read_outbox_file(path)]


async def test_killing_the_relay_mid_send_still_sends_every_message_exactly_once(world, settings, tmp_path):
    acme = await world.tenant("acme")
    async with world.session() as s:
        await bind_tenant(s, acme.id)
        ids = [
            (
                await queue_sms(
                    s, tenant=acme.tenant, to_number=f"138{i:08d}", body=f"未接来电 #{i}", purpose="missed_call_notice"
                )
            ).id
            for i in range(MESSAGES)
        ]
        await s.commit()
    outbox = settings.data_dir / "sms" / "outbox.jsonl"
    log = tmp_path / "relay.log"
    started = time.monotonic()

    # 1. A relay that pauses 0.2 s after each line it writes; kill it inside such a pause.
    first = _start(settings, log, "--loop", KEFU_SMS_LOGFILE_DELAY_SECONDS="0.2")
    in_flight: set[str] = set()
    try:
        while True:
            assert time.monotonic() - started < DEADLINE, f"no progress to kill at; log:\n{log.read_text()}"
            assert first.poll() is None, f"the relay exited early; log:\n{log.read_text()}"
            written = _file_ids(outbox)
            if len(written) >= 8:
                first.send_signal(signal.SIGSTOP)  # freeze it, then look while nothing moves
                statuses = await _statuses(world, settings, acme.id)
                in_flight = {i for i in written if statuses[uuid.UUID(i)] == "sending"}
                if in_flight:
                    first.send_signal(signal.SIGKILL)
                    break
                first.send_signal(signal.SIGCONT)
            await asyncio.sleep(0.005)
    finally:
        if first.poll() is None:
            first.kill()
        first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    written_before = _file_ids(outbox)
    assert 8 <= len(written_before) < MESSAGES, "killed mid-batch: some but not all messages were written"
    statuses = await _statuses(world, settings, acme.id)
    assert in_flight and all(statuses[uuid.UUID(i)] == "sending" for i in in_flight)
    assert list(statuses.values()).count("delivered") < len(written_before)

    # 2. Restart it (no pause now); it drains the outbox and exits.
    second = _start(settings, log, "--loop", "--until-drained")
    try:
        second.wait(timeout=max(10.0, DEADLINE - (time.monotonic() - started)))
    finally:
        if second.poll() is None:
            second.kill()
            second.wait(timeout=30)
    assert second.returncode == 0, log.read_text()

    # 3. Every message reached the "provider" exactly once and is recorded as delivered.
    counts = collections.Counter(_file_ids(outbox))
    assert set(counts) == {str(i) for i in ids}
    assert [m for m, n in counts.items() if n != 1] == []
    statuses = await _statuses(world, settings, acme.id)
    assert set(statuses.values()) == {"delivered"}
    async with world.session() as s:
        await bind_tenant(s, acme.id)
        attempts = dict((await s.execute(sa.select(SmsMessage.id, SmsMessage.attempts))).all())
        await s.rollback()
    # The messages caught in the pause were sent again after the lease expired; the adapter
    # recognised their keys, so the second attempt added no line.
    assert all(attempts[uuid.UUID(i)] == 2 for i in in_flight)
    lines = {e["message_id"]: e for e in read_outbox_file(outbox)}
    assert lines[str(ids[7])]["to"] == "+8613800000007"
