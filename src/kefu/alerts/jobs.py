"""The detector service: each tenant's complaint events through its :class:`~kefu.alerts.detector.Detector`.

Per tick and tenant (:func:`run_once`):

1. lock the tenant's ``alert_detector_states`` row (``FOR UPDATE`` on PostgreSQL, the write lock on
   SQLite), so two processes never feed the same events;
2. take the detector from this process's cache when its version matches the row, else restore it from
   the stored snapshot (a restart, or another process moved on); rebuild it when the tenant changed its
   thresholds (new *generation*: the baseline is relearnt from ``rebuild_days`` of complaints);
3. read the next ``batch`` complaint events after the cursor (ids are time-ordered; never a scan of
   everything), feed them — complaints older than ``learn_older_than_hours`` only teach the baseline —
   and close alerts whose cool-down ran out;
4. in ONE transaction: the alert rows and their timeline, the snapshot and the cursor. A crash before
   the commit replays the same events from the old snapshot; after it, nothing is read twice;
5. after the commit, publish ``alert.new`` / ``alert.grow`` / ``alert.closed`` to the ``alerts`` topic.

Then, per the tenant's policy, alerts scoring ``auto_open_score`` open incidents by themselves (one
transaction each), and callback tasks that did not reach the router yet are retried.

On PostgreSQL concurrent transactions may commit complaint events out of id order; the service reads
only ids older than ``settle`` seconds so a slow commit is never skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.alerts.actions import (
    close_finished_alerts,
    do_open_incident,
    record_alert_updates,
    submit_callbacks,
    system_actor,
)
from kefu.alerts.detector import AlertUpdate, Detector, DetectorConfig
from kefu.alerts.models import Alert, DetectorState, IncidentNotice
from kefu.alerts.policy import AlertSettings
from kefu.alerts.rules import split_path
from kefu.core.db import bind_tenant, commit
from kefu.core.errors import KefuError
from kefu.core.ids import new_id

log = logging.getLogger("kefu.alerts.service")

TICK_SECONDS = 5.0
BATCH = 500
#: Seconds a complaint event id must be old before the service reads it (PostgreSQL only).
SETTLE_SECONDS = 3.0
#: At most this many alerts are opened as incidents per tenant and tick by the auto-open policy.
AUTO_OPEN_PER_TICK = 10


@dataclass
class RunResult:
    tenants: int = 0
    events: int = 0
    updates: int = 0
    new_alerts: int = 0
    closed_alerts: int = 0
    incidents_opened: int = 0
    callbacks: int = 0
    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: Tenants whose step raised (logged; retried at the next tick from their stored state).
    failed: list[uuid.UUID] = field(default_factory=list)


@dataclass
class _Cached:
    version: int
    generation: int
    detector: Detector


def _cache(ctx: Any) -> dict[uuid.UUID, _Cached]:
    cache: dict[uuid.UUID, _Cached] = ctx.services.setdefault("alert_detectors", {})
    return cache


def forget_detectors(ctx: Any) -> None:
    """Drop this process's in-memory detectors (what a restart does); the next run restores them."""
    _cache(ctx).clear()


def pack(detector: Detector) -> bytes:
    return zlib.compress(json.dumps(detector.snapshot(), separators=(",", ":")).encode(), 6)


def unpack(data: bytes) -> Detector:
    return Detector.restore(json.loads(zlib.decompress(data)))


def _id_before(seconds_ago: float) -> uuid.UUID:
    """The largest UUIDv7 stamped ``seconds_ago`` seconds before now (real time, as ids are)."""
    ms = int((time.time() - seconds_ago) * 1000)
    return uuid.UUID(int=(max(ms, 0) << 80) | ((1 << 80) - 1))


async def _state(session: AsyncSession, tenant_id: uuid.UUID, now: datetime) -> DetectorState:
    """The tenant's state row, created if missing, locked for this transaction."""
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert  # type: ignore[union-attr]
    await session.execute(
        insert(DetectorState)
        .values(
            id=new_id(),
            tenant_id=tenant_id,
            generation=1,
            version=0,
            snapshot=b"",
            cursor_id=None,
            events_read=0,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    stmt = sa.select(DetectorState).where(DetectorState.tenant_id == tenant_id).with_for_update()
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one()


async def _relearn(
    session: AsyncSession, tenant_id: uuid.UUID, detector: Detector, since: datetime, until: uuid.UUID | None
) -> int:
    """Teach a fresh detector the complaints since ``since`` already read (by time, in batches)."""
    from kefu.workorders.models import ComplaintEvent

    if until is None:
        return 0
    n = 0
    key: tuple[datetime, uuid.UUID] | None = None
    while True:
        stmt = sa.select(
            ComplaintEvent.occurred_at, ComplaintEvent.id, ComplaintEvent.area_path, ComplaintEvent.category_path
        ).where(ComplaintEvent.tenant_id == tenant_id, ComplaintEvent.occurred_at >= since, ComplaintEvent.id <= until)
        if key is not None:
            stmt = stmt.where(
                sa.or_(
                    ComplaintEvent.occurred_at > key[0],
                    sa.and_(ComplaintEvent.occurred_at == key[0], ComplaintEvent.id > key[1]),
                )
            )
        rows = (await session.execute(stmt.order_by(ComplaintEvent.occurred_at, ComplaintEvent.id).limit(BATCH))).all()
        events = []
        for at, _id, area, category in rows:
            a = split_path(area)
            if a:
                events.append((at.timestamp(), a, split_path(category) or ("(none)",)))
        n += detector.learn(events)
        if len(rows) < BATCH:
            return n
        key = (rows[-1][0], rows[-1][1])


async def _tenant_step(
    ctx: Any, tenant_id: uuid.UUID, now: datetime, batch: int, settle: float, result: RunResult
) -> bool:
    """One batch for one tenant in one transaction; True when there may be more to read."""
    from kefu.tenancy.models import Tenant
    from kefu.workorders.models import ComplaintEvent

    cache = _cache(ctx)
    messages: list[tuple[str, dict[str, Any]]] = []
    async with ctx.session_factory() as session:
        await bind_tenant(session, tenant_id)
        tenant = await session.get(Tenant, tenant_id)
        if tenant is None:
            return False
        try:
            policy = AlertSettings.of(tenant.settings)
        except ValidationError as exc:
            log.warning("tenant %s: early-warning settings are not valid (%s); detector paused", tenant_id, exc)
            return False
        if not policy.enabled:
            return False
        config = policy.detector_config(tenant.timezone)
        try:
            state = await _state(session, tenant_id, now)
            cached = cache.get(tenant_id)
            if cached is not None and cached.version == state.version and cached.generation == state.generation:
                detector = cached.detector
            elif state.snapshot:
                detector = unpack(state.snapshot)
            else:
                detector = Detector(config)
            changed = False
            if detector.config != config:
                detector, changed = await _rebuild(session, tenant_id, state, config, policy, now, messages), True
            stmt = sa.select(
                ComplaintEvent.id, ComplaintEvent.occurred_at, ComplaintEvent.area_path, ComplaintEvent.category_path
            ).where(ComplaintEvent.tenant_id == tenant_id)
            if state.cursor_id is not None:
                stmt = stmt.where(ComplaintEvent.id > state.cursor_id)
            if settle > 0:
                stmt = stmt.where(ComplaintEvent.id <= _id_before(settle))
            rows = (await session.execute(stmt.order_by(ComplaintEvent.id).limit(batch))).all()
            learn_before = (now - timedelta(hours=policy.learn_older_than_hours)).timestamp()
            updates: list[AlertUpdate] = []
            for _id, at, area, category in rows:
                a = split_path(area)
                if not a:
                    continue  # a complaint without an area cannot be placed on the map
                c = split_path(category) or ("(none)",)
                t = at.timestamp()
                if t < learn_before:
                    detector.learn(((t, a, c),))
                else:
                    updates.extend(detector.observe(t, a, c))
            closed = detector.close_expired(now.timestamp()) if detector.open_alerts() else 0
            if not rows and not closed and not changed:
                await session.commit()
                cache[tenant_id] = _Cached(state.version, state.generation, detector)
                return False
            new = await record_alert_updates(session, tenant_id, state.generation, updates, now)
            messages.extend(new)
            messages.extend(
                await close_finished_alerts(
                    session, tenant_id, state.generation, {u.alert_id for u in detector.open_alerts()}, now
                )
            )
            state.snapshot = pack(detector)
            if rows:
                state.cursor_id = rows[-1][0]
            state.events_read += len(rows)
            state.version += 1
            state.updated_at = now
            await commit(session)
        except BaseException:
            cache.pop(tenant_id, None)  # the in-memory detector may be ahead of the database now
            raise
        cache[tenant_id] = _Cached(state.version, state.generation, detector)
    result.events += len(rows)
    result.updates += len(updates)
    result.new_alerts += sum(1 for kind, _ in messages if kind == "alert.new")
    result.closed_alerts += sum(1 for kind, _ in messages if kind == "alert.closed")
    hub = ctx.services.get("hub")
    for kind, data in messages:
        result.messages.append((kind, data))
        if hub is not None:
            hub.publish(tenant_id, "alerts", kind, data)
    return len(rows) >= batch


async def _rebuild(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    state: DetectorState,
    config: DetectorConfig,
    policy: AlertSettings,
    now: datetime,
    messages: list[tuple[str, dict[str, Any]]],
) -> Detector:
    """The tenant changed its thresholds: a new generation, its baseline relearnt from recent complaints."""
    detector = Detector(config)
    learnt = await _relearn(session, tenant_id, detector, now - timedelta(days=policy.rebuild_days), state.cursor_id)
    state.generation += 1
    messages.extend(await close_finished_alerts(session, tenant_id, state.generation, set(), now))
    log.info(
        "tenant %s: detector settings changed; generation %d relearnt %d complaints",
        tenant_id,
        state.generation,
        learnt,
    )
    return detector


async def _auto_open(ctx: Any, tenant_id: uuid.UUID, result: RunResult) -> None:
    """Open incidents for alerts at or above the tenant's ``auto_open_score`` (each in its own transaction)."""
    from kefu.tenancy.models import Tenant

    async with ctx.session_factory() as session:
        await bind_tenant(session, tenant_id)
        tenant = await session.get(Tenant, tenant_id)
        try:
            threshold = AlertSettings.of(tenant.settings if tenant else {}).auto_open_score
        except ValidationError:
            threshold = None
        ids: list[uuid.UUID] = []
        if threshold is not None:
            ids = list(
                (
                    await session.execute(
                        sa.select(Alert.id)
                        .where(Alert.tenant_id == tenant_id, Alert.status == "open", Alert.score >= threshold)
                        .order_by(Alert.detected_at)
                        .limit(AUTO_OPEN_PER_TICK)
                    )
                ).scalars()
            )
        await session.commit()
    failed: set[uuid.UUID] = ctx.services.setdefault("alert_auto_open_failed", set())
    for alert_id in ids:
        async with ctx.session_factory() as session:
            await bind_tenant(session, tenant_id)
            try:
                await do_open_incident(session, system_actor(tenant_id), alert_id, how="auto")
                await commit(session)
                result.incidents_opened += 1
            except KefuError as exc:
                await session.rollback()
                if alert_id not in failed:
                    failed.add(alert_id)
                    log.warning("tenant %s: alert %s not opened as an incident: %s", tenant_id, alert_id, exc.detail)


async def _pending_callbacks(ctx: Any, tenant_id: uuid.UUID) -> bool:
    async with ctx.session_factory() as session:
        await bind_tenant(session, tenant_id)
        found = (
            await session.execute(
                sa.select(IncidentNotice.id)
                .where(IncidentNotice.tenant_id == tenant_id, IncidentNotice.status == "pending")
                .limit(1)
            )
        ).first()
        await session.commit()
    return found is not None


async def run_once(ctx: Any, now: datetime | None = None, *, batch: int = BATCH, settle: float = 0.0) -> RunResult:
    """One pass over every active tenant: feed new complaint events, store alerts, apply the policy."""
    from kefu.tenancy.models import Tenant

    now = now or ctx.now()
    result = RunResult()
    async with ctx.session_factory() as session:
        tenants = (await session.execute(sa.select(Tenant.id).where(Tenant.is_active.is_(True)))).scalars().all()
        await session.commit()
    for tenant_id in tenants:
        result.tenants += 1
        try:
            while await _tenant_step(ctx, tenant_id, now, batch, settle, result):
                pass
            await _auto_open(ctx, tenant_id, result)
            if await _pending_callbacks(ctx, tenant_id):
                result.callbacks += await submit_callbacks(ctx, tenant_id)
        except Exception:  # one tenant's trouble must not stop the others
            result.failed.append(tenant_id)
            log.exception("early warning failed for tenant %s", tenant_id)
    return result


async def run(ctx: Any, stop: asyncio.Event) -> None:
    """Background service: :func:`run_once` every ``TICK_SECONDS`` until ``stop`` is set."""
    settle = SETTLE_SECONDS if not ctx.settings.is_embedded_database else 0.0
    while not stop.is_set():
        try:
            result = await run_once(ctx, settle=settle)
            if result.updates or result.closed_alerts or result.incidents_opened:
                log.info(
                    "early warning: %d complaints read, %d updates, %d new and %d closed alerts, %d incidents opened",
                    result.events,
                    result.updates,
                    result.new_alerts,
                    result.closed_alerts,
                    result.incidents_opened,
                )
        except Exception:  # a failed tick must not stop the service
            log.exception("early-warning tick failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=TICK_SECONDS)
