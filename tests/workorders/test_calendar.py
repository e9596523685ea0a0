"""Working-time arithmetic: lunch breaks, holidays, make-up days, DST, pauses — and its invariants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kefu.workorders.calendar import CalendarError, add_working_time, build_calendar, working_time_between

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
WEEK = {d: [["09:00", "12:00"], ["13:30", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
CAL = build_calendar("Asia/Shanghai", WEEK, holidays=["2026-10-01", "2026-10-02"], workdays=["2026-10-10"])


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


def test_lunch_break_is_skipped():
    # Friday 2026-11-27 11:00 + 2 h of work: 1 h before lunch, 1 h after 13:30 -> 14:30
    assert add_working_time(sh(2026, 11, 27, 11, 0), timedelta(hours=2), CAL) == sh(2026, 11, 27, 14, 30)
    # starting inside lunch begins at 13:30
    assert add_working_time(sh(2026, 11, 27, 12, 40), timedelta(minutes=30), CAL) == sh(2026, 11, 27, 14, 0)


def test_weekend_and_evening_are_skipped():
    # Friday 17:00 + 2 h -> Monday 10:00 (1 h on Friday, 1 h on Monday)
    assert add_working_time(sh(2026, 11, 27, 17, 0), timedelta(hours=2), CAL) == sh(2026, 11, 30, 10, 0)
    # exactly at the end of a day: the deadline is that end, not the next morning
    assert add_working_time(sh(2026, 11, 27, 17, 0), timedelta(hours=1), CAL) == sh(2026, 11, 27, 18, 0)


def test_holidays_and_make_up_working_days():
    # Wed 2026-09-30 17:00 + 2 h: 1 h on the 30th, 1st and 2nd are holidays, 3rd/4th weekend -> Mon 5th 10:00
    assert add_working_time(sh(2026, 9, 30, 17, 0), timedelta(hours=2), CAL) == sh(2026, 10, 5, 10, 0)
    # Saturday 2026-10-10 is a make-up working day (调休) with Monday's hours
    assert add_working_time(sh(2026, 10, 9, 17, 0), timedelta(hours=2), CAL) == sh(2026, 10, 10, 10, 0)


def test_pauses_push_the_deadline_and_open_pauses_hide_it():
    start = sh(2026, 11, 23, 9, 0)  # Monday
    pause = (sh(2026, 11, 23, 10, 0), sh(2026, 11, 23, 11, 0))
    assert add_working_time(start, timedelta(hours=2), CAL, [pause]) == sh(2026, 11, 23, 12, 0)
    assert add_working_time(start, timedelta(hours=2), CAL, [(sh(2026, 11, 23, 10, 0), None)]) is None
    # a pause after the deadline changes nothing
    assert add_working_time(start, timedelta(hours=1), CAL, [(sh(2026, 11, 23, 15, 0), None)]) == sh(
        2026, 11, 23, 10, 0
    )


def test_working_time_between_counts_only_working_intervals():
    assert working_time_between(sh(2026, 11, 27, 8, 0), sh(2026, 11, 30, 10, 0), CAL) == timedelta(hours=8.5)
    assert working_time_between(sh(2026, 11, 27, 8, 0), sh(2026, 11, 27, 8, 0), CAL) == timedelta(0)
    pauses = [(sh(2026, 11, 27, 9, 0), sh(2026, 11, 27, 10, 0))]
    assert working_time_between(sh(2026, 11, 27, 8, 0), sh(2026, 11, 27, 12, 0), CAL, pauses) == timedelta(hours=2)
    assert working_time_between(sh(2026, 11, 27, 8, 0), sh(2026, 11, 27, 12, 0), None, pauses) == timedelta(hours=3)


def test_dst_zone_keeps_local_office_hours():
    cal = build_calendar("America/New_York", {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")})
    # Friday before the 2026 fall-back (Sunday Nov 1): 16:00 + 2 h -> Monday 10:00 local (EST now)
    start = datetime(2026, 10, 30, 16, 0, tzinfo=NY)
    due = add_working_time(start, timedelta(hours=2), cal)
    assert due is not None and due.astimezone(NY) == datetime(2026, 11, 2, 10, 0, tzinfo=NY)
    assert due.astimezone(UTC).hour == 15  # EST is UTC-5
    # the 24 x 7 clock counts the extra hour of the fall-back night
    night = working_time_between(datetime(2026, 10, 31, 12, tzinfo=NY), datetime(2026, 11, 1, 12, tzinfo=NY), None)
    assert night == timedelta(hours=25)


def test_bad_calendars_are_refused_with_reasons():
    with pytest.raises(CalendarError, match="time zone"):
        build_calendar("Mars/Olympus", WEEK)
    with pytest.raises(CalendarError, match="weekday"):
        build_calendar("Asia/Shanghai", {"monday": [["09:00", "18:00"]]})
    with pytest.raises(CalendarError, match="overlap"):
        build_calendar("Asia/Shanghai", {"mon": [["09:00", "12:00"], ["11:00", "18:00"]]})
    with pytest.raises(CalendarError, match="ends before"):
        build_calendar("Asia/Shanghai", {"mon": [["18:00", "09:00"]]})
    with pytest.raises(CalendarError, match="at least one"):
        build_calendar("Asia/Shanghai", {})
    with pytest.raises(CalendarError, match="date"):
        build_calendar("Asia/Shanghai", WEEK, holidays=["tomorrow"])


# --------------------------------------------------------------------------- properties

instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)
durations = st.integers(min_value=0, max_value=60 * 24 * 20).map(lambda m: timedelta(minutes=m))
calendars = st.sampled_from(
    [
        None,
        CAL,
        build_calendar(
            "America/New_York",
            {d: [["08:00", "12:00"], ["13:00", "17:30"]] for d in ("mon", "tue", "wed", "thu", "fri")},
            holidays=["2026-12-25"],
        ),
    ]
)


@st.composite
def pauses(draw: st.DrawFn, start: datetime) -> list[tuple[datetime, datetime]]:
    items = []
    for _ in range(draw(st.integers(0, 3))):
        a = start + timedelta(minutes=draw(st.integers(0, 60 * 24 * 10)))
        items.append((a, a + timedelta(minutes=draw(st.integers(1, 60 * 24 * 3)))))
    return items


@settings(max_examples=150, deadline=None)
@given(a=instants, gap=st.integers(0, 60 * 24 * 7), duration=durations, calendar=calendars)
def test_deadline_is_monotone_in_the_start_time(a, gap, duration, calendar):
    b = a + timedelta(minutes=gap)
    assert add_working_time(a, duration, calendar) <= add_working_time(b, duration, calendar)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), start=instants, duration=durations, calendar=calendars)
def test_pausing_never_shortens_and_time_adds_up(data, start, duration, calendar):
    breaks = data.draw(pauses(start))
    plain = add_working_time(start, duration, calendar)
    paused = add_working_time(start, duration, calendar, breaks)
    assert plain is not None and paused is not None
    assert paused >= plain
    # the working time between start and the deadline is exactly the target
    assert working_time_between(start, paused, calendar, breaks) == duration
    assert working_time_between(start, plain, calendar) == duration


@settings(max_examples=100, deadline=None)
@given(start=instants, d1=durations, d2=durations, calendar=calendars)
def test_adding_in_two_steps_equals_adding_once(start, d1, d2, calendar):
    assume(d1 > timedelta(0))
    mid = add_working_time(start, d1, calendar)
    assert add_working_time(mid, d2, calendar) == add_working_time(start, d1 + d2, calendar)
