"""Business calendars and working-time arithmetic: pure functions, no I/O.

A :class:`Calendar` is a weekly template of working intervals (several per day — a lunch break is
simply the gap between two intervals), holidays, make-up working days (调休) and a time zone. Local
times are turned into UTC per day, so DST zones get their real wall-clock hours.

* :func:`add_working_time` — the instant at which ``duration`` of working time has elapsed after
  ``start``, skipping non-working time and ``breaks`` (intervals when the clock is paused, e.g.
  pending the customer). An open break (end ``None``) before that instant means the deadline is
  unknown while paused: ``None``.
* :func:`working_time_between` — working time in ``[a, b)`` minus breaks.

``calendar=None`` means 24 × 7. Breaks are replayed from history by the caller (pause = replay).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_DAYS = 3 * 366  # a target needing more than three years of calendar is a configuration error
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")

Break = tuple[datetime, datetime | None]


class CalendarError(ValueError):
    pass


@dataclass(frozen=True)
class Calendar:
    timezone: str = "Asia/Shanghai"
    #: weekday (0 = Monday) → sorted, non-overlapping local (start, end) times; end may be 24:00 (time.max)
    week: dict[int, tuple[tuple[time, time], ...]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local_intervals(self, day: date) -> tuple[tuple[time, time], ...]:
        if day in self.holidays:
            return ()
        if day in self.workdays:
            return self.week.get(0) or next((v for v in self.week.values() if v), ())
        return self.week.get(day.weekday(), ())

    def intervals_on(self, day: date) -> list[tuple[datetime, datetime]]:
        tz = self.tz
        out = []
        for start, end in self.local_intervals(day):
            s = datetime.combine(day, start, tzinfo=tz).astimezone(UTC)
            e = (
                datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
                if end == time.max
                else datetime.combine(day, end, tzinfo=tz)
            ).astimezone(UTC)
            if e > s:
                out.append((s, e))
        return out

    def has_working_time(self) -> bool:
        return any(self.week.values()) or bool(self.workdays and any(self.week.values()))


def _parse_hhmm(value: str) -> time:
    if not isinstance(value, str) or not _HHMM.match(value):
        raise CalendarError(f"{value!r} is not a time of day like '09:00' (or '24:00' for midnight).")
    if value == "24:00":
        return time.max
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise CalendarError(f"{value!r} is not a date like '2026-10-01'.") from None


def build_calendar(
    timezone: str, week: dict[str, Sequence[Sequence[str]]], holidays: Iterable[str] = (), workdays: Iterable[str] = ()
) -> Calendar:
    """Validate a stored calendar definition; raises :class:`CalendarError` naming the problem."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(f"Unknown time zone {timezone!r}; use an IANA name such as 'Asia/Shanghai'.") from None
    parsed: dict[int, tuple[tuple[time, time], ...]] = {}
    for key, intervals in (week or {}).items():
        if key not in DAYS:
            raise CalendarError(f"Unknown weekday {key!r}; use {', '.join(DAYS)}.")
        pairs = []
        for interval in intervals:
            if len(interval) != 2:
                raise CalendarError(f"{key}: each interval is [start, end], e.g. ['09:00', '12:00'].")
            start, end = _parse_hhmm(interval[0]), _parse_hhmm(interval[1])
            if start == time.max or not (end == time.max or end > start):
                raise CalendarError(f"{key}: the interval {interval[0]}–{interval[1]} ends before it starts.")
            pairs.append((start, end))
        pairs.sort()
        for (_s1, e1), (s2, _e2) in itertools.pairwise(pairs):
            if e1 == time.max or s2 < e1:
                raise CalendarError(f"{key}: working intervals overlap.")
        if pairs:
            parsed[DAYS.index(key)] = tuple(pairs)
    if not parsed:
        raise CalendarError("A business calendar needs at least one working interval in the week.")
    return Calendar(
        timezone, parsed, frozenset(_parse_date(d) for d in holidays), frozenset(_parse_date(d) for d in workdays)
    )


def day_calendar(timezone: str, start_hour: int = 8, end_hour: int = 22) -> Calendar:
    """Every day from ``start_hour`` to ``end_hour`` local: "handling time without night hours"."""
    end = time.max if end_hour >= 24 else time(end_hour)
    interval = ((time(start_hour), end),)
    return Calendar(timezone, {d: interval for d in range(7)})


# --------------------------------------------------------------------------- arithmetic


def _utc(value: datetime) -> datetime:
    # Arithmetic on aware datetimes sharing a tzinfo is wall-clock arithmetic in Python; in UTC it is real time.
    if value.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return value.astimezone(UTC)


def _normalize_breaks(breaks: Iterable[Break]) -> list[tuple[datetime, datetime | None]]:
    breaks = [(_utc(a), None if b is None else _utc(b)) for a, b in breaks]
    items = sorted((b for b in breaks if b[1] is None or b[1] > b[0]), key=lambda b: b[0])
    merged: list[tuple[datetime, datetime | None]] = []
    for start, end in items:
        if merged:
            last_start, last_end = merged[-1]
            if last_end is None:
                break
            if start <= last_end:
                merged[-1] = (last_start, None if end is None else max(last_end, end))
                continue
        merged.append((start, end))
    return merged


def _working_pieces(start: datetime, calendar: Calendar | None) -> Iterator[tuple[datetime, datetime]]:
    """Working intervals from ``start`` on, in order (clipped to start)."""
    if calendar is None:
        yield start, datetime.max.replace(tzinfo=UTC)
        return
    tz = calendar.tz
    day = start.astimezone(tz).date() - timedelta(days=1)
    for _ in range(MAX_DAYS):
        for s, e in calendar.intervals_on(day):
            if e <= start:
                continue
            yield max(s, start), e
        day += timedelta(days=1)
    raise CalendarError("The calendar has no working time in the next three years; check its hours and holidays.")


def _subtract(
    piece: tuple[datetime, datetime], breaks: list[tuple[datetime, datetime | None]], first: int
) -> tuple[list[tuple[datetime, datetime]], int, bool]:
    """``piece`` minus breaks (from index ``first``); returns pieces, next break index, hit-open-break."""
    s, e = piece
    out = []
    i = first
    while i < len(breaks) and breaks[i][1] is not None and breaks[i][1] <= s:  # type: ignore[operator]
        i += 1
    j = i
    while j < len(breaks) and breaks[j][0] < e:
        bs, be = breaks[j]
        if bs > s:
            out.append((s, bs))
        if be is None:
            return out, j, True
        s = max(s, be)
        if s >= e:
            break
        j += 1
    if s < e:
        out.append((s, e))
    return out, i, False


def add_working_time(
    start: datetime, duration: timedelta, calendar: Calendar | None, breaks: Iterable[Break] = ()
) -> datetime | None:
    """The instant when ``duration`` of working time, not counting ``breaks``, has elapsed after ``start``."""
    start = _utc(start)
    normalized = _normalize_breaks(breaks)
    remaining = duration
    if remaining <= timedelta(0):
        return start
    index = 0
    for piece in _working_pieces(start, calendar):
        pieces, index, blocked = _subtract(piece, normalized, index)
        for s, e in pieces:
            length = e - s
            if length >= remaining:
                return s + remaining
            remaining -= length
        if blocked:
            return None
    raise AssertionError("unreachable")  # pragma: no cover - _working_pieces raises first


def working_time_between(
    a: datetime, b: datetime, calendar: Calendar | None, breaks: Iterable[Break] = ()
) -> timedelta:
    """Working time in ``[a, b)`` that is not inside a break."""
    a, b = _utc(a), _utc(b)
    if b <= a:
        return timedelta(0)
    normalized = _normalize_breaks(breaks)
    total = timedelta(0)
    index = 0
    if calendar is None:
        pieces, _, _ = _subtract((a, b), normalized, 0)
        return sum((e - s for s, e in pieces), timedelta(0))
    tz = calendar.tz
    day = a.astimezone(tz).date() - timedelta(days=1)
    last = b.astimezone(tz).date() + timedelta(days=1)
    while day <= last:
        for s, e in calendar.intervals_on(day):
            s, e = max(s, a), min(e, b)
            if e <= s:
                continue
            pieces, index, blocked = _subtract((s, e), normalized, index)
            total += sum((pe - ps for ps, pe in pieces), timedelta(0))
            if blocked:
                return total
        day += timedelta(days=1)
    return total
