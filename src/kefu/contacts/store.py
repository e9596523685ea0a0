"""Asynchronous, batched persistence of call state for the call controller.

The controller changes a call's state many times a second across hundreds of
calls; it must never wait on the database between two telephony events. It
hands changes to this store, which coalesces them per call and writes them in
one transaction per tenant every ``interval`` seconds: new calls are
inserted, changed fields updated, timeline events appended, recordings
recorded. Work queued after commit hooks (SMS, surveys) runs in the same
transaction as the change that caused it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.contacts.models import Call, CallEvent, Recording
from kefu.core.context import Context
from kefu.core.db import bind_tenant
from kefu.core.ids import new_id

log = logging.getLogger("kefu.contacts")

Job = Callable[[AsyncSession], Awaitable[None]]


@dataclass
class _TenantBatch:
    inserts: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    updates: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    recordings: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.inserts or self.updates or self.events or self.recordings or self.jobs)


class CallStore:
    def __init__(self, ctx: Context, interval: float = 0.1) -> None:
        self.ctx = ctx
        self.interval = interval
        self._batches: dict[uuid.UUID, _TenantBatch] = {}
        self._lock = asyncio.Lock()
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    def _batch(self, tenant_id: uuid.UUID) -> _TenantBatch:
        batch = self._batches.get(tenant_id)
        if batch is None:
            batch = self._batches[tenant_id] = _TenantBatch()
        self._schedule()
        return batch

    # ------------------------------------------------------------------ what the controller hands over

    def insert(self, tenant_id: uuid.UUID, call_id: uuid.UUID, fields: dict[str, Any]) -> None:
        self._batch(tenant_id).inserts[call_id] = {"id": call_id, "tenant_id": tenant_id, **fields}

    def update(self, tenant_id: uuid.UUID, call_id: uuid.UUID, **fields: Any) -> None:
        batch = self._batch(tenant_id)
        pending = batch.inserts.get(call_id)
        if pending is not None:
            pending.update(fields)
        else:
            batch.updates.setdefault(call_id, {}).update(fields)

    def event(
        self,
        tenant_id: uuid.UUID,
        call_id: uuid.UUID,
        at: datetime,
        type_: str,
        agent_id: uuid.UUID | None = None,
        **data: Any,
    ) -> None:
        self._batch(tenant_id).events.append(
            {
                "id": new_id(),
                "tenant_id": tenant_id,
                "call_id": call_id,
                "at": at,
                "type": type_,
                "agent_id": agent_id,
                "data": data,
            }
        )

    def recording(self, tenant_id: uuid.UUID, fields: dict[str, Any]) -> None:
        self._batch(tenant_id).recordings.append({"tenant_id": tenant_id, **fields})

    def job(self, tenant_id: uuid.UUID, job: Job) -> None:
        """Run ``job(session)`` in the tenant's next write transaction (after this batch's rows)."""
        self._batch(tenant_id).jobs.append(job)

    # ------------------------------------------------------------------ writing

    def _schedule(self) -> None:
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._scheduled = True

        def spawn() -> None:
            self._scheduled = False
            task = loop.create_task(self._flush_logged())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        loop.call_later(self.interval, spawn)

    async def _flush_logged(self) -> None:
        try:
            await self.flush()
        except Exception:
            log.exception("storing call state failed; retrying")
            await asyncio.sleep(1.0)
            self._schedule()

    async def flush(self) -> None:
        async with self._lock:
            batches, self._batches = self._batches, {}
            for tenant_id, batch in batches.items():
                if batch.empty():
                    continue
                try:
                    await self._write(tenant_id, batch)
                except BaseException:
                    self._merge_back(tenant_id, batch)
                    raise

    def _merge_back(self, tenant_id: uuid.UUID, batch: _TenantBatch) -> None:
        current = self._batches.get(tenant_id)
        if current is None:
            self._batches[tenant_id] = batch
            return
        for call_id, fields in batch.inserts.items():
            current.inserts.setdefault(call_id, fields)
        for call_id, fields in batch.updates.items():
            current.updates[call_id] = {**fields, **current.updates.get(call_id, {})}
        current.events[:0] = batch.events
        current.recordings[:0] = batch.recordings
        current.jobs[:0] = batch.jobs

    async def _write(self, tenant_id: uuid.UUID, batch: _TenantBatch) -> None:
        assert self.ctx.session_factory is not None
        async with self.ctx.session_factory() as session:
            await bind_tenant(session, tenant_id)
            if batch.inserts:
                await session.execute(sa.insert(Call), list(batch.inserts.values()))
            for call_id, fields in batch.updates.items():
                await session.execute(
                    sa.update(Call).where(Call.tenant_id == tenant_id, Call.id == call_id).values(**fields)
                )
            if batch.events:
                await session.execute(sa.insert(CallEvent), batch.events)
            if batch.recordings:
                await session.execute(sa.insert(Recording), batch.recordings)
            for job in batch.jobs:
                try:
                    async with session.begin_nested():
                        await job(session)
                except Exception:
                    log.exception("a call follow-up job failed (tenant %s); the call itself is stored", tenant_id)
            await session.commit()

    async def close(self) -> None:
        for task in list(self._tasks):
            await asyncio.gather(task, return_exceptions=True)
        await self.flush()
