"""The SMS outbox relay: sends queued messages through the SMS port, once.

How a message is sent exactly once
==================================

Exactly-once to the provider = **at-least-once** delivery by the relay + **idempotency** at the
provider:

1. **Queue** — :func:`kefu.messaging.queue_sms` inserts the row in the transaction of the change
   that causes it. Rolled back → never sent; committed → durable.
2. **Claim** — the relay visits every active tenant (the ``tenants`` table is not under row-level
   security; each tenant is bound in turn, so PostgreSQL RLS stays in force — the same pattern the
   audit verifier uses), selects due rows (``next_attempt_at <= now``, an indexed scan, at most a
   batch) ``FOR UPDATE SKIP LOCKED`` (so several relays share the work; on SQLite the write lock
   serialises claims), marks them ``sending`` with a lease (``next_attempt_at`` = lease expiry),
   bumps ``attempts`` and the ``fence``, and **commits before calling the provider**.
3. **Send** — :meth:`SmsPort.send` with the message id as the idempotency key.
4. **Record** — in a new transaction, only if the row still carries our ``fence`` and is still
   ``sending``: ``sent``/``delivered``; or ``failed`` with the next attempt after an exponential
   backoff with jitter (seeded RNG); or ``dead`` after ``KEFU_SMS_MAX_ATTEMPTS`` attempts or a
   permanent refusal. A stale worker (its lease ran out and another relay claimed the message)
   finds a newer fence and its late result is ignored.

A crash after step 2 leaves the row ``sending``; when its lease expires it is due again and is
re-claimed (step 2 again). If the crash came after the provider accepted the message (step 3)
but before step 4 committed, the message is sent again — and the provider drops it as a duplicate
because the idempotency key is the same: the logfile adapter keeps an index of keys (rebuilt from
its file), the HTTP adapter sends ``Idempotency-Key``. So each message reaches the provider once.

Run it as a background service of the web server (:func:`run_sms_relay`, registered in
``kefu.domains.BACKGROUND_SERVICES``), or alone::

    python -m kefu.messaging.relay --once            # one pass, then exit
    python -m kefu.messaging.relay --loop            # until SIGTERM / SIGINT
    python -m kefu.messaging.relay --loop --until-drained   # until no message is pending
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import uuid
from datetime import datetime, timedelta

from kefu.core.context import Context
from kefu.core.db import bind_tenant
from kefu.messaging import actions, queries
from kefu.messaging.port import PermanentSmsError, SendResult, SmsPort, TransientSmsError
from kefu.messaging.rules import backoff_delay

log = logging.getLogger("kefu.messaging.relay")


class OutboxRelay:
    """One relay worker. ``run_once(now)`` does one claim-send-record pass and returns how many
    messages it claimed; tests drive it with explicit times, the service loops it."""

    def __init__(
        self,
        ctx: Context,
        port: SmsPort | None = None,
        *,
        owner: str | None = None,
        batch_size: int | None = None,
        lease_seconds: float | None = None,
        max_attempts: int | None = None,
        concurrency: int | None = None,
        seed: int | None = None,
    ) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.port: SmsPort = port or ctx.services["sms_port"]
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.batch_size = batch_size or settings.sms_relay_batch_size
        self.lease = timedelta(seconds=lease_seconds or settings.sms_lease_seconds)
        self.max_attempts = max_attempts or settings.sms_max_attempts
        self.concurrency = concurrency or settings.sms_relay_concurrency
        self.rng = random.Random(seed)

    async def run_once(self, now: datetime | None = None) -> int:
        """One pass. With ``now`` every time of the pass is ``now`` (tests); else the clock's."""
        claims = await self._claim(now or self.ctx.now())
        if not claims:
            return 0
        gate = asyncio.Semaphore(self.concurrency)

        async def one(claim: actions.Claim) -> None:
            async with gate:
                await self._deliver(claim, now)

        await asyncio.gather(*(one(c) for c in claims))
        return len(claims)

    async def pending(self) -> int:
        """Messages, over all tenants, that are queued, sending or waiting for a retry."""
        assert self.ctx.session_factory is not None
        total = 0
        async with self.ctx.session_factory() as session:
            for tenant in await queries.active_tenants(session):
                await bind_tenant(session, tenant.id)
                total += await queries.pending_count(session, tenant.id)
            await session.rollback()
        return total

    # ------------------------------------------------------------------ steps

    async def _claim(self, now: datetime) -> list[actions.Claim]:
        assert self.ctx.session_factory is not None
        base_url = self.ctx.settings.public_url
        claims: list[actions.Claim] = []
        async with self.ctx.session_factory() as session:
            for tenant in await queries.active_tenants(session):
                room = self.batch_size - len(claims)
                if room <= 0:
                    break
                await bind_tenant(session, tenant.id)
                claims += await actions.claim_due_messages(
                    session,
                    tenant,
                    now=now,
                    limit=room,
                    owner=self.owner,
                    lease=self.lease,
                    max_attempts=self.max_attempts,
                    status_callback=f"{base_url}/api/v1/sms/callbacks/{tenant.slug}/delivery",
                )
            await session.commit()  # the claims are durable before anything is sent
        return claims

    async def _deliver(self, claim: actions.Claim, at: datetime | None) -> None:
        result: SendResult | None = None
        error: str | None = None
        delay: timedelta | None = None
        try:
            result = await self.port.send(claim.outgoing)
        except PermanentSmsError as exc:
            error = f"refused: {exc}"
        except TransientSmsError as exc:
            error = str(exc)
            delay = self._backoff(claim)
        except asyncio.CancelledError:
            raise  # shutting down: the lease expires and another pass picks the message up
        except Exception as exc:
            log.exception("SMS adapter %s failed on message %s", getattr(self.port, "name", "?"), claim.message_id)
            error = f"adapter error: {type(exc).__name__}"
            delay = self._backoff(claim)
        now = at or self.ctx.now()
        retry_at = now + delay if delay is not None else None
        assert self.ctx.session_factory is not None
        async with self.ctx.session_factory() as session:
            await bind_tenant(session, claim.tenant_id)
            recorded = await actions.record_send_result(
                session, claim, now=now, result=result, error=error, retry_at=retry_at
            )
            await session.commit()
        if not recorded:
            log.warning(
                "SMS %s: result of attempt %d ignored (lease lost to another relay)", claim.message_id, claim.attempt
            )

    def _backoff(self, claim: actions.Claim) -> timedelta | None:
        """How long to wait after a transient failure, or None: attempts used up, give up."""
        if claim.attempt >= self.max_attempts:
            return None
        return backoff_delay(claim.attempt, self.rng)


async def run_sms_relay(ctx: Context, stop: asyncio.Event) -> None:
    """Background service: relay due messages until ``stop`` is set."""
    relay = OutboxRelay(ctx)
    poll = ctx.settings.sms_relay_poll_seconds
    log.info("SMS relay %s started (provider %s)", relay.owner, relay.port.name)
    while not stop.is_set():
        try:
            busy = await relay.run_once()
        except Exception:
            log.exception("SMS relay pass failed; trying again in %.1f s", poll)
            busy = 0
        if busy:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=poll)


# --------------------------------------------------------------------------- python -m kefu.messaging.relay


async def _main(args: argparse.Namespace) -> int:
    from kefu.bootstrap import build_context, dispose_context

    ctx = build_context()
    relay = OutboxRelay(ctx)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        if args.once:
            count = await relay.run_once()
            print(f"claimed {count} message(s)", flush=True)
            return 0
        poll = ctx.settings.sms_relay_poll_seconds
        while not stop.is_set():
            busy = await relay.run_once()
            if busy:
                continue
            if args.until_drained and await relay.pending() == 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll)
        return 0
    finally:
        await dispose_context(ctx)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kefu.messaging.relay", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--once", action="store_true", help="one pass, then exit")
    mode.add_argument("--loop", action="store_true", help="keep relaying until SIGTERM/SIGINT")
    parser.add_argument("--until-drained", action="store_true", help="with --loop: exit when nothing is pending")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return asyncio.run(_main(args))


if __name__ == "__main__":
    raise SystemExit(main())
