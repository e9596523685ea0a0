"""The SLA scheduler: scans ``next_deadline_at`` (indexed) in batches, never all open orders.

Each tick, for every active tenant, it takes at most ``batch`` orders whose next warning or deadline
is due (``next_deadline_at <= now``), locks them (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
several processes can share the work), records the warnings and breaches as permanent
``sla_events`` rows, runs the escalations and moves ``next_deadline_at`` on. One transaction per
batch, committed by the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from kefu.core.db import bind_tenant
from kefu.workorders.actions import record_sla_checkpoints
from kefu.workorders.models import WorkOrder

log = logging.getLogger("kefu.workorders.sla")

TICK_SECONDS = 30.0
BATCH = 500


@dataclass
class ScanResult:
    orders: int = 0
    warnings: int = 0
    breaches: int = 0


async def run_once(ctx: Any, now: datetime | None = None, *, batch: int = BATCH) -> ScanResult:
    """One pass over every tenant's due orders (at most ``batch`` per tenant per transaction, repeated)."""
    from kefu.tenancy.models import Tenant

    now = now or ctx.now()
    result = ScanResult()
    async with ctx.session_factory() as session:
        tenants = (await session.execute(sa.select(Tenant.id).where(Tenant.is_active.is_(True)))).scalars().all()
        await session.commit()
    for tenant_id in tenants:
        while True:
            async with ctx.session_factory() as session:
                await bind_tenant(session, tenant_id)
                stmt = (
                    sa.select(WorkOrder)
                    .where(WorkOrder.tenant_id == tenant_id, WorkOrder.next_deadline_at <= now)
                    .order_by(WorkOrder.next_deadline_at)
                    .limit(batch)
                )
                if session.bind.dialect.name == "postgresql":
                    stmt = stmt.with_for_update(skip_locked=True)
                orders = list((await session.execute(stmt)).scalars())
                for order in orders:
                    for event in await record_sla_checkpoints(session, order, now):
                        if event.kind == "breach":
                            result.breaches += 1
                        else:
                            result.warnings += 1
                    result.orders += 1
                await session.commit()
            if len(orders) < batch:
                break
    return result


async def run(ctx: Any, stop: asyncio.Event) -> None:
    """Background service: one scan every ``TICK_SECONDS`` until ``stop`` is set."""
    while not stop.is_set():
        try:
            result = await run_once(ctx)
            if result.orders:
                log.info(
                    "SLA scan: %d orders, %d warnings, %d breaches", result.orders, result.warnings, result.breaches
                )
        except Exception:  # a failed tick must not stop the service
            log.exception("SLA scan failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=TICK_SECONDS)
