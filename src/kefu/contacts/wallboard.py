"""The supervisor wallboard's intraday figures: one day of inbound calls in 15-minute buckets.

Buckets follow the tenant's time zone (a day has 92 or 100 of them when the clocks change). Every
figure is counted by the database from the ``calls`` table (index ``ix_calls_tenant_started``) with
SQL that gives the same answer on SQLite and PostgreSQL: whole seconds since the local midnight,
integer-divided by 900. Counts are raw; ratios are computed on read.

* offered: inbound calls that reached a queue;
* answered: of those, answered by an agent; ``answered_in_sl`` within the queue's service-level
  threshold (``sl_threshold_s`` of the queue's config, else 20 s), measured by ``wait_seconds``;
* abandoned: the caller hung up while queued or ringing;
* average wait: of offered calls with a measured wait; average answer: of answered calls.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from kefu.contacts.models import Call
from kefu.contacts.rules import ABANDONED
from kefu.core.actor import Actor
from kefu.core.context import context_of
from kefu.core.errors import InvalidInput
from kefu.routing.models import Queue
from kefu.tenancy import Permission
from kefu.tenancy.models import Tenant
from kefu.web.deps import DB, Require

router = APIRouter(prefix="/api/v1/t/{tenant}", tags=["wallboard"])

BUCKET_SECONDS = 900
DEFAULT_SL_THRESHOLD_S = 20.0
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants of the local midnights that start and end ``day``."""
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def _epoch_seconds(session: AsyncSession, column: Any) -> Any:
    """Whole seconds since 1970 (UTC) of a timestamp column, rounded down, as an integer."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.func.floor(sa.extract("epoch", column)), sa.BigInteger)
    return sa.cast(sa.func.strftime("%s", column), sa.Integer)  # SQLite stores UTC text


def _flag(condition: Any) -> Any:
    return sa.case((condition, 1), else_=0)


async def _thresholds(session: AsyncSession, actor: Actor) -> dict[Any, float]:
    rows = (await session.execute(sa.select(Queue.id, Queue.config).where(Queue.tenant_id == actor.tenant_id))).all()
    out = {}
    for queue_id, config in rows:
        value = (config or {}).get("sl_threshold_s")
        if isinstance(value, int | float) and value > 0 and value != DEFAULT_SL_THRESHOLD_S:
            out[queue_id] = float(value)  # only the queues that differ from the default
    return out


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


async def intraday(session: AsyncSession, actor: Actor, day: date | None = None) -> dict[str, Any]:
    """One day's inbound calls per 15 minutes (tenant time zone), with totals."""
    assert actor.tenant_id is not None
    tenant = await session.get(Tenant, actor.tenant_id)
    zone = _zone(tenant.timezone if tenant is not None else "UTC")
    now = context_of(session).now()
    if day is None:
        day = now.astimezone(zone).date()
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(
            f"Choose a date between {FIRST_DAY} and {LAST_DAY}.", errors=[{"field": "date", "message": "out of range"}]
        )
    start, end = day_bounds(day, zone)
    count = int((end - start).total_seconds()) // BUCKET_SECONDS

    thresholds = await _thresholds(session, actor)
    threshold: Any = sa.literal(DEFAULT_SL_THRESHOLD_S)
    if thresholds:
        threshold = sa.case(*[(Call.queue_id == q, t) for q, t in thresholds.items()], else_=DEFAULT_SL_THRESHOLD_S)
    offset = _epoch_seconds(session, Call.started_at) - int(start.timestamp())
    bucket = offset // BUCKET_SECONDS  # integer division on both databases (offsets are >= 0)
    queued = Call.queue_id.is_not(None)
    answered = sa.and_(queued, Call.answered_at.is_not(None))
    waited = sa.and_(queued, Call.wait_seconds.is_not(None))
    answered_waited = sa.and_(answered, Call.wait_seconds.is_not(None))
    per_call = (
        sa.select(
            bucket.label("bucket"),
            _flag(queued).label("offered"),
            _flag(answered).label("answered"),
            _flag(sa.and_(answered_waited, Call.wait_seconds <= threshold)).label("answered_in_sl"),
            _flag(sa.and_(queued, Call.outcome == ABANDONED)).label("abandoned"),
            sa.case((waited, Call.wait_seconds), else_=None).label("wait"),
            sa.case((answered_waited, Call.wait_seconds), else_=None).label("answer_wait"),
        )
        .where(
            Call.tenant_id == actor.tenant_id,
            Call.direction == "inbound",
            Call.started_at >= start,
            Call.started_at < end,
        )
        .subquery()
    )
    c = per_call.c
    stmt = sa.select(
        c.bucket,
        sa.func.sum(c.offered).label("offered"),
        sa.func.sum(c.answered).label("answered"),
        sa.func.sum(c.answered_in_sl).label("answered_in_sl"),
        sa.func.sum(c.abandoned).label("abandoned"),
        sa.func.sum(c.wait).label("wait_total"),
        sa.func.count(c.wait).label("waits"),
        sa.func.sum(c.answer_wait).label("answer_wait_total"),
        sa.func.count(c.answer_wait).label("answer_waits"),
    ).group_by(c.bucket)
    found = {int(row.bucket): row for row in (await session.execute(stmt)).all()}
    totals = dict.fromkeys(("offered", "answered", "answered_in_sl", "abandoned", "waits", "answer_waits"), 0)
    sums = {"wait_total": 0.0, "answer_wait_total": 0.0}
    buckets = []
    for i in range(count):
        at = start + timedelta(seconds=i * BUCKET_SECONDS)
        row = found.get(i)
        figures = {key: int(getattr(row, key) or 0) if row is not None else 0 for key in totals}
        wait_total = float(row.wait_total or 0.0) if row is not None else 0.0
        answer_wait_total = float(row.answer_wait_total or 0.0) if row is not None else 0.0
        for key, value in figures.items():
            totals[key] += value
        sums["wait_total"] += wait_total
        sums["answer_wait_total"] += answer_wait_total
        buckets.append(_figures(at.astimezone(zone).strftime("%H:%M"), at, figures, wait_total, answer_wait_total))
    return {
        "date": day.isoformat(),
        "timezone": zone.key,
        "bucket_minutes": BUCKET_SECONDS // 60,
        "buckets": buckets,
        "totals": _figures(None, None, totals, sums["wait_total"], sums["answer_wait_total"]),
        "at": now.isoformat(),
    }


def _figures(
    label: str | None, at: datetime | None, counts: dict[str, int], wait_total: float, answer_wait_total: float
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if label is not None and at is not None:
        out.update(start=label, at=at.isoformat())
    out.update(
        offered=counts["offered"],
        answered=counts["answered"],
        answered_in_sl=counts["answered_in_sl"],
        abandoned=counts["abandoned"],
        average_wait_s=round(wait_total / counts["waits"], 1) if counts["waits"] else None,
        average_answer_s=round(answer_wait_total / counts["answer_waits"], 1) if counts["answer_waits"] else None,
        service_level=_ratio(counts["answered_in_sl"], counts["offered"]),
    )
    return out


@router.get("/wallboard/intraday", summary="Today's (or a day's) inbound calls per 15 minutes, tenant time zone")
async def intraday_figures(
    db: DB,
    actor: Actor = Depends(Require(Permission.WALLBOARD_READ)),
    day: Annotated[date | None, Query(alias="date", description="YYYY-MM-DD; default today")] = None,
) -> dict[str, Any]:
    return await intraday(db, actor, day)
