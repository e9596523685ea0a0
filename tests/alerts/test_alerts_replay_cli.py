"""``kefu alerts replay``: CSV exports in many shapes, JSON lines, bad input never a traceback."""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kefu.alerts.cli import app
from kefu.alerts.replay import ReplayError, parse_time, parse_tz, read_complaints

runner = CliRunner()
T0 = datetime(2026, 1, 5, tzinfo=UTC)
HEADER = ["工单号", "受理时间", "小区", "投诉类别"]
ARGS = ["--time-col", "受理时间", "--area-col", "小区", "--category-col", "投诉类别"]


def compound(i: int) -> str:
    return f"广东省/深圳市/南山区{i % 3}/小区{i:03d}"


def background(days: int, n: int = 40, seed: int = 4, per_day: float = 0.3):
    """(datetime, area, category) rows: ``n`` quiet compounds over ``days`` days."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        t = 0.0
        while True:
            t += rng.expovariate(per_day / 86400.0)
            if t >= days * 86400.0:
                break
            cat = rng.choice(["网络质量/信号弱", "收费争议/增值业务", "用户服务/服务态度"])
            rows.append((T0 + timedelta(seconds=round(t)), compound(i), cat))
    return rows


BURST_START = T0 + timedelta(days=2, hours=14, minutes=5)
BURST = [(BURST_START + timedelta(minutes=3 * k), compound(7), "网络质量/信号弱") for k in range(6)]


def write(path: Path, rows, fmt=lambda d: d.strftime("%Y-%m-%d %H:%M:%S"), header=HEADER, encoding="utf-8", delim=","):
    rows = sorted(rows, key=lambda r: r[0])
    with path.open("w", newline="", encoding=encoding) as f:
        w = csv.writer(f, delimiter=delim)
        w.writerow(header)
        for n, (d, a, c) in enumerate(rows):
            w.writerow([f"GD{n:05d}", fmt(d) if isinstance(d, datetime) else d, a, c])
    return rows


def invoke(*args: str):
    return runner.invoke(app, ["replay", *args])


def json_lines(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_json_lines_have_the_required_fields(tmp_path):
    path = tmp_path / "complaints.csv"
    rows = write(path, background(4) + BURST)
    result = invoke(str(path), *ARGS, "--json")
    assert result.exit_code == 0, result.output
    alerts = json_lines(result)
    assert len(alerts) == 1
    a = alerts[0]
    for key in ("start", "detected_at", "area", "category", "count", "expected", "score"):
        assert key in a
    assert a["area"] == compound(7)
    assert a["category"] in ("网络质量/信号弱", "网络质量")
    assert a["start"] == "2026-01-07T14:05:00"  # naive in, naive out
    assert a["detected_at"] == "2026-01-07T14:11:00"  # the third complaint
    assert a["count"] == 3
    assert 0 < a["expected"] < 0.05
    assert a["score"] >= 5.0
    third = next(i for i, r in enumerate(rows) if r == BURST[2])
    assert a["line"] == third + 2  # header is line 1
    assert "rows read: " + str(len(rows)) in result.stderr
    assert "skipped: 0" in result.stderr


def test_human_output_and_summary(tmp_path):
    path = tmp_path / "c.csv"
    write(path, background(4) + BURST)
    result = invoke(str(path), *ARGS)
    assert result.exit_code == 0
    assert "ALERT" in result.stdout and "小区007" in result.stdout
    assert "alerts: 1" in result.stderr


def test_time_zone_option_gives_offsets(tmp_path):
    path = tmp_path / "c.csv"
    write(path, background(4) + BURST)
    result = invoke(str(path), *ARGS, "--json", "--tz", "Asia/Shanghai")
    assert result.exit_code == 0
    (a,) = json_lines(result)
    assert a["start"] == "2026-01-07T14:05:00+08:00"


def test_postal_codes_and_chinese_dates(tmp_path):
    path = tmp_path / "postal.csv"
    codes = ["100081", "010010", "200001", "510000", "310000", "100082", "518000", "430000"]
    rows = [(d, codes[hash(a) % len(codes)], c) for d, a, c in background(4, n=40)]
    rows += [(BURST_START + timedelta(minutes=4 * k), "010010", "网络质量") for k in range(5)]
    write(path, rows, fmt=lambda d: d.strftime("%Y年%m月%d日 %H:%M"))
    result = invoke(str(path), *ARGS, "--json")
    assert result.exit_code == 0, result.output
    hits = [a for a in json_lines(result) if a["area"] == "010010"]
    assert hits, result.stdout
    assert hits[0]["start"] == "2026-01-07T14:05:00"
    assert hits[0]["area_path"] == ["010010"]


def test_date_only_rows_run_in_daily_mode(tmp_path):
    path = tmp_path / "dates.csv"
    rng = random.Random(9)
    rows = []
    for day in range(40):
        for i in range(12):
            if rng.random() < 0.25:
                rows.append((T0.date() + timedelta(days=day), f"区{i:02d}", "网络质量/信号弱"))
    rows += [(T0.date() + timedelta(days=33), "区05", "网络质量/信号弱")] * 9
    write(path, rows, fmt=str)
    result = invoke(str(path), *ARGS, "--json")
    assert result.exit_code == 0, result.output
    alerts = json_lines(result)
    assert [(a["area"], a["start"], a["detected_at"]) for a in alerts] == [("区05", "2026-02-07", "2026-02-07")]
    assert "daily resolution" in result.stderr


def test_gbk_semicolons_and_angle_bracket_paths(tmp_path):
    path = tmp_path / "gbk.csv"
    rows = [(d, a.replace("/", " > "), c) for d, a, c in background(4) + BURST]
    write(path, rows, encoding="gbk", delim=";")
    result = invoke(str(path), *ARGS, "--json")
    assert result.exit_code == 0, result.output
    (a,) = json_lines(result)
    assert a["area"] == compound(7)
    assert "gbk" in result.stderr and "';'" in result.stderr


def test_missing_column_is_a_clear_error_with_exit_code_2(tmp_path):
    path = tmp_path / "c.csv"
    write(path, BURST, header=["工单号", "时间", "小区", "投诉类别"])
    result = invoke(str(path), *ARGS)
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert "line 1" in result.stderr and "'受理时间'" in result.stderr
    assert "'时间'" in result.stderr  # the columns that were found
    assert "Traceback" not in result.output


def test_bad_rows_are_skipped_and_counted_with_line_numbers(tmp_path):
    path = tmp_path / "c.csv"
    rows = sorted(background(4) + BURST, key=lambda r: r[0])
    rows.insert(3, ("2026-13-45 25:00", compound(1), "网络质量/信号弱"))  # line 5
    rows.insert(5, ("昨天下午", compound(2), "网络质量/信号弱"))  # line 7
    rows.insert(8, (T0 + timedelta(hours=5), "  ", "网络质量/信号弱"))  # line 10
    rows.insert(9, (T0 + timedelta(hours=6), compound(3), ""))  # line 11: no category
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for n, (d, a, c) in enumerate(rows):
            w.writerow([n, d.strftime("%Y/%m/%d %H:%M") if isinstance(d, datetime) else d, a, c])
        f.write("\n")  # a blank line is not a row
        w.writerow(["x", "2026-01-09 10:00"])  # a short row
    result = invoke(str(path), *ARGS, "--json")
    assert result.exit_code == 0, result.output
    err = result.stderr
    assert f"rows read: {len(rows) + 1}" in err
    assert "skipped: 4 (unparseable date: 2, empty area: 1, missing fields: 1)" in err
    assert "line 5: unparseable date '2026-13-45 25:00'" in err
    assert "line 7: unparseable date '昨天下午'" in err
    assert "line 10: empty area" in err
    assert f"line {len(rows) + 3}: missing fields" in err
    assert "empty category read as 未分类: 1" in err
    assert len(json_lines(result)) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x00\xff\xfe\x81\x00garbage\xff" * 50, "decode"),
        (b'\xe5\x8f\x97\xe7\x90\x86\xe6\x97\xb6\xe9\x97\xb4,a\n"unterminated\x00,x\n', "line"),
    ],
)
def test_unusable_files_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    result = invoke(str(path), *ARGS)
    assert result.exit_code == 2
    assert message in result.stderr.lower()
    assert "Traceback" not in result.output


def test_missing_file_and_bad_options(tmp_path):
    result = invoke(str(tmp_path / "nope.csv"), *ARGS)
    assert result.exit_code == 2 and "cannot read" in result.stderr
    path = tmp_path / "c.csv"
    write(path, BURST)
    assert invoke(str(path), *ARGS, "--tz", "Mars/Olympus").exit_code == 2
    assert invoke(str(path), *ARGS, "--resolution", "hour").exit_code == 2
    bad = invoke(str(path), *ARGS, "--cooldown-hours", "0.1")
    assert bad.exit_code == 2 and "cooldown" in bad.stderr


def test_no_usable_rows_exit_1(tmp_path):
    path = tmp_path / "c.csv"
    write(path, [("soon", compound(1), "x"), ("later", compound(2), "y")])
    result = invoke(str(path), *ARGS)
    assert result.exit_code == 1
    assert "no usable rows" in result.stderr and "skipped: 2" in result.stderr


def test_reader_directly(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("time\tarea\tcat\n2026-01-02 10:00\t a / b \tx\n2026-01-01 09:00\ta/c\t\n", encoding="utf-8-sig")
    inp = read_complaints(path, "TIME", "Area", "cat")  # column names match case-insensitively
    assert inp.delimiter == "\t"
    assert [r.area for r in inp.rows] == [("a", "c"), ("a", "b")]  # in time order
    assert inp.rows[0].category == ("未分类",) and inp.uncategorised == 1
    assert [r.line for r in inp.rows] == [3, 2]
    with pytest.raises(ReplayError) as err:
        read_complaints(path, "when", "area", "cat")
    assert err.value.line == 1 and "'when'" in str(err.value)


@pytest.mark.parametrize(
    ("text", "expected", "date_only"),
    [
        ("2026-11-28T14:05:00+08:00", datetime(2026, 11, 28, 6, 5, tzinfo=UTC), False),
        ("2026-11-28 14:05", datetime(2026, 11, 28, 14, 5, tzinfo=UTC), False),
        ("2026/11/28 14:05:30.250", datetime(2026, 11, 28, 14, 5, 30, 250000, tzinfo=UTC), False),
        ("2026年11月28日 14:05", datetime(2026, 11, 28, 14, 5, tzinfo=UTC), False),
        ("2026年11月28日14时05分", datetime(2026, 11, 28, 14, 5, tzinfo=UTC), False),
        ("2026年11月28日 下午2点05分", datetime(2026, 11, 28, 14, 5, tzinfo=UTC), False),
        ("2026-11-28 2:05 PM", datetime(2026, 11, 28, 14, 5, tzinfo=UTC), False),
        ("2026-11-28 12:30 AM", datetime(2026, 11, 28, 0, 30, tzinfo=UTC), False),
        ("20261128 140500", datetime(2026, 11, 28, 14, 5, tzinfo=UTC), False),
        ("2026-11-28Z", datetime(2026, 11, 28, tzinfo=UTC), True),
        ("2026-11-28", datetime(2026, 11, 28, tzinfo=UTC), True),
        ("2026年11月28日", datetime(2026, 11, 28, tzinfo=UTC), True),
        ("20261128", datetime(2026, 11, 28, tzinfo=UTC), True),
        ("28.11.2026 14:05", datetime(2026, 11, 28, 14, 5, tzinfo=UTC), False),
        ("11/28/2026", datetime(2026, 11, 28, tzinfo=UTC), True),
        ("1795874700", datetime(2026, 11, 28, 14, 5, tzinfo=UTC), False),
        ("1795874700000", datetime(2026, 11, 28, 14, 5, tzinfo=UTC), False),
        ("46354.5", datetime(2026, 11, 28, 12, 0, tzinfo=UTC), False),
    ],
)
def test_parse_time_formats(text, expected, date_only):
    ts, d_only, _ = parse_time(text)
    assert ts == expected.timestamp()
    if text[:1] != "1" and "." not in text[:6]:
        assert d_only is date_only


@pytest.mark.parametrize("text", ["", "2026-02-30", "2026-11-28 25:00", "yesterday", "13 PM", "12345"])
def test_parse_time_rejects(text):
    with pytest.raises(ValueError):
        parse_time(text)


def test_naive_times_follow_the_time_zone():
    tz = parse_tz("+08:00")
    ts, _, had_offset = parse_time("2026-11-28 14:05", tz)
    assert ts == datetime(2026, 11, 28, 14, 5, tzinfo=timezone(timedelta(hours=8))).timestamp()
    assert not had_offset
    assert parse_tz("UTC+5:30").utcoffset(None) == timedelta(hours=5, minutes=30)
    with pytest.raises(ValueError):
        parse_tz("Nowhere/Special")
