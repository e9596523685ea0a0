"""Replay a CSV export of historical complaints through the detector.

:func:`read_complaints` reads any complaint export that has a time, an area and a category
column:

* encodings UTF-8 (with or without BOM) and GBK/GB18030, tried in that order unless given;
* the delimiter is sniffed among ``,`` ``;`` tab and ``|`` unless given;
* times: ISO 8601 (``2026-11-28T14:05:00+08:00``, ``2026-11-28 14:05``), slashes or dots
  (``2026/11/28 14:05``), Chinese (``2026年11月28日 14:05``, ``2026年11月28日14时05分``,
  ``下午2点05分``), compact (``20261128 140500``), date only (``2026-11-28``), day-first or
  month-first dates (``28.11.2026``, ``11/28/2026``; ambiguous ones read day-first except with
  ``/``), 12-hour clocks (``2:05 PM``), POSIX seconds or milliseconds, and Excel serial dates.
  Times without an offset are local to ``tz`` (UTC when not given);
* areas as paths ``省/市/区/小区`` or ``A > B > C`` (also full-width separators), or flat codes
  such as postal codes (``100081``; an Excel-mangled ``100081.0`` is read as ``100081``);
  categories likewise (``网络质量/信号弱``); an empty category becomes ``未分类``.

Rows with an unparseable time or an empty area are skipped and counted with their line
numbers (:class:`SkippedRow`); a missing column, an undecodable file or a malformed CSV raise
:class:`ReplayError` naming the line. Rows are replayed in time order (stable for ties).

:func:`replay` runs the detector and yields each alert when it first fires, with the row it
fired on; :func:`alert_record` turns one into the JSON-ready dict printed by
``kefu alerts replay --json``. If every time in the file is date-only the detector runs in
daily mode (:meth:`DetectorConfig.daily`).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path as FsPath
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kefu.alerts.detector import AlertUpdate, Detector, DetectorConfig
from kefu.alerts.rules import format_path, split_path

__all__ = [
    "ComplaintRow",
    "ReplayError",
    "ReplayInput",
    "SkippedRow",
    "alert_record",
    "format_time",
    "parse_time",
    "parse_tz",
    "read_complaints",
    "replay",
]

Path = tuple[str, ...]
UNCATEGORISED = "未分类"


class ReplayError(Exception):
    """A problem with the whole file (not one row): missing column, undecodable, malformed."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True, slots=True)
class ComplaintRow:
    ts: float
    area: Path
    category: Path
    line: int


@dataclass(frozen=True, slots=True)
class SkippedRow:
    line: int
    reason: str


@dataclass(slots=True)
class ReplayInput:
    rows: list[ComplaintRow]
    skipped: list[SkippedRow]
    rows_read: int
    encoding: str
    delimiter: str
    date_only: bool
    aware: bool  # some times carried an explicit offset
    columns: list[str]
    uncategorised: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


# ----------------------------------------------------------------------------- time zones


def parse_tz(text: str | None) -> tzinfo | None:
    """``None`` → None; ``UTC``/``Z``; ``+08:00``/``-0530``/``UTC+8``; IANA names (zoneinfo)."""
    if text is None:
        return None
    s = text.strip()
    if s.upper() in {"UTC", "Z", "GMT"}:
        return UTC
    m = re.fullmatch(r"(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?", s, re.IGNORECASE)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        hours, minutes = int(m.group(2)), int(m.group(3) or 0)
        if hours > 23 or minutes > 59:
            raise ValueError(f"bad UTC offset {text!r}")
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(s)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {text!r} (use UTC, +08:00 or a name like Asia/Shanghai)") from exc


# ----------------------------------------------------------------------------- times

_CN_TRANS = str.maketrans(
    {
        "年": "-",
        "月": "-",
        "日": " ",
        "号": " ",
        "時": ":",
        "时": ":",
        "点": ":",
        "點": ":",
        "分": ":",
        "秒": "",
        "／": "/",
        "：": ":",
        "－": "-",
        "　": " ",
        "．": ".",
    }
)
_TZ = r"(?P<tz>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?"
_CLOCK = r"(?:[T\s]+(?P<H>\d{1,2})(?::(?P<M>\d{1,2}))?(?::(?P<S>\d{1,2})(?:[.,](?P<f>\d{1,9}))?)?)?"
_YMD = re.compile(r"(?P<y>\d{4})[-/.](?P<a>\d{1,2})[-/.](?P<b>\d{1,2})" + _CLOCK + r"\s*" + _TZ, re.IGNORECASE)
_DMY = re.compile(r"(?P<a>\d{1,2})(?P<sep>[-/.])(?P<b>\d{1,2})[-/.](?P<y>\d{4})" + _CLOCK + r"\s*" + _TZ, re.IGNORECASE)
_COMPACT = re.compile(r"(?P<y>\d{4})(?P<a>\d{2})(?P<b>\d{2})(?:[T\s]?(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})?)?" + _TZ)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_AMPM = re.compile(r"(上午|早上|凌晨|中午|下午|晚上|傍晚|\bAM\b|\bPM\b|\ba\.m\.|\bp\.m\.)", re.IGNORECASE)
_PM = {"下午", "晚上", "傍晚", "PM", "P.M.", "中午"}


def _offset(tz_text: str | None) -> tzinfo | None:
    if not tz_text:
        return None
    if tz_text.upper() in {"Z", "UTC", "GMT"}:
        return UTC
    sign = -1 if tz_text[0] == "-" else 1
    digits = tz_text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_time(text: str, tz: tzinfo | None = None) -> tuple[float, bool, bool]:
    """Parse one time cell: ``(POSIX seconds, date_only, had_offset)``; ``ValueError`` if unreadable.

    Times without an offset are taken in ``tz`` (UTC if None).
    """
    s = text.strip()
    if not s:
        raise ValueError("empty time")
    s = s.translate(_CN_TRANS)
    ampm = None
    m = _AMPM.search(s)
    if m:
        ampm = m.group(1).upper()
        s = (s[: m.start()] + " " + s[m.end() :]).strip()
    s = re.sub(r"\s+", " ", s).strip().rstrip(":").strip()
    s = re.sub(r"\s*:\s*", ":", s)

    match = _YMD.fullmatch(s)
    y = mo = d = 0
    if match:
        y, mo, d = int(match["y"]), int(match["a"]), int(match["b"])
    else:
        match = _DMY.fullmatch(s)
        if match:
            a, b, y = int(match["a"]), int(match["b"]), int(match["y"])
            if a > 12 or (b <= 12 and match["sep"] != "/"):
                d, mo = a, b
            else:
                mo, d = a, b
        else:
            match = _COMPACT.fullmatch(s)
            if match:
                y, mo, d = int(match["y"]), int(match["a"]), int(match["b"])
    if match is None:
        if _NUMBER.fullmatch(s):
            return _parse_number(s), False, True
        raise ValueError("unrecognised time format")
    gd = match.groupdict()
    date_only = gd.get("H") is None
    hour = int(gd["H"] or 0)
    minute = int(gd.get("M") or 0)
    second = int(gd.get("S") or 0)
    frac = gd.get("f")
    micro = int((frac + "000000")[:6]) if frac else 0
    if ampm is not None:
        if hour > 12:
            raise ValueError("12-hour clock with hour > 12")
        if ampm in _PM and hour < 12:
            hour += 12
        elif ampm not in _PM and hour == 12:
            hour = 0
    off = _offset(gd.get("tz"))
    dt = datetime(y, mo, d, hour, minute, second, micro)  # ValueError on bad ranges
    if off is not None:
        return dt.replace(tzinfo=off).timestamp(), date_only, True
    return dt.replace(tzinfo=tz or UTC).timestamp(), date_only, False


def _parse_number(s: str) -> float:
    x = float(s)
    if 20000 <= x < 80000:  # Excel serial day (1954–2119), 1899-12-30 epoch
        return (x - 25569.0) * 86400.0
    if 1e9 <= x < 1e11:
        return x
    if 1e12 <= x < 1e14:
        return x / 1000.0
    raise ValueError("number is neither POSIX seconds/milliseconds nor an Excel date")


def format_time(ts: float, tz: tzinfo | None, *, naive: bool = False, date_only: bool = False) -> str:
    """ISO 8601 for output: in ``tz`` (UTC if None); ``naive`` omits the offset."""
    dt = datetime.fromtimestamp(round(ts), tz or UTC)
    if date_only:
        return dt.date().isoformat()
    if naive:
        return dt.replace(tzinfo=None).isoformat(timespec="seconds")
    return dt.isoformat(timespec="seconds")


# ----------------------------------------------------------------------------- CSV

_POSTAL_FLOAT = re.compile(r"(\d+)\.0+")


def _decode(data: bytes, encoding: str | None) -> tuple[str, str]:
    if encoding:
        try:
            return data.decode(encoding), encoding
        except LookupError as exc:
            raise ReplayError(f"unknown encoding {encoding!r}") from exc
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ReplayError(f"cannot decode as {encoding}", line) from exc
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc), ("gbk/gb18030" if enc == "gb18030" else "utf-8")
        except UnicodeDecodeError:
            continue
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ReplayError("cannot decode as UTF-8 or GBK (pass --encoding)", line) from exc
    raise ReplayError("cannot decode the file")  # pragma: no cover


def _sniff(text: str, delimiter: str | None) -> str:
    if delimiter:
        return "\t" if delimiter in {"\\t", "tab", "TAB"} else delimiter
    sample = text[:65536]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        head = sample.splitlines()[0] if sample else ""
        counts = {d: head.count(d) for d in ",;\t|"}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _find_column(header: list[str], name: str) -> int | None:
    if name in header:
        return header.index(name)
    low = name.strip().casefold()
    for i, h in enumerate(header):
        if h.strip().casefold() == low:
            return i
    return None


def read_complaints(
    path: str | FsPath,
    time_col: str,
    area_col: str,
    category_col: str,
    *,
    tz: tzinfo | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> ReplayInput:
    """Read and validate a complaint export; see the module docstring."""
    try:
        data = FsPath(path).read_bytes()
    except OSError as exc:
        raise ReplayError(f"cannot read {path}: {exc.strerror or exc}") from exc
    text, enc = _decode(data, encoding)
    if not text.strip():
        raise ReplayError("the file is empty", 1)
    delim = _sniff(text, delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ReplayError(f"malformed CSV header: {exc}", 1) from exc
    if header is None:
        raise ReplayError("the file is empty", 1)
    header = [h.strip().lstrip("\ufeff") for h in header]
    wanted = {"time": time_col, "area": area_col, "category": category_col}
    idx: dict[str, int] = {}
    missing = []
    for role, name in wanted.items():
        i = _find_column(header, name)
        if i is None:
            missing.append(name)
        else:
            idx[role] = i
    if missing:
        names = ", ".join(repr(m) for m in missing)
        found = ", ".join(repr(h) for h in header) or "none"
        noun = "column" if len(missing) == 1 else "columns"
        raise ReplayError(
            f"missing {noun} {names} in the header (found {found}; delimiter {delim!r})",
            reader.line_num or 1,
        )
    ti, ai, ci = idx["time"], idx["area"], idx["category"]
    need = max(ti, ai, ci)
    rows: list[ComplaintRow] = []
    skipped: list[SkippedRow] = []
    reasons: Counter[str] = Counter()
    read = 0
    date_only_all = True
    aware = False
    uncategorised = 0
    path_cache: dict[str, Path] = {}

    def as_path(cell: str) -> Path:
        p = path_cache.get(cell)
        if p is None:
            c = cell.strip()
            m = _POSTAL_FLOAT.fullmatch(c)
            p = (m.group(1),) if m else split_path(c)
            path_cache[cell] = p
        return p

    def skip(line: int, reason: str, detail: str = "") -> None:
        reasons[reason] += 1
        skipped.append(SkippedRow(line, f"{reason} {detail}".strip()))

    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ReplayError(f"malformed CSV: {exc}", reader.line_num) from exc
        line = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        read += 1
        if len(row) <= need:
            skip(line, "missing fields", f"({len(row)} of {len(header)})")
            continue
        area = as_path(row[ai])
        if not area:
            skip(line, "empty area")
            continue
        raw_t = row[ti]
        try:
            ts, date_only, had_off = parse_time(raw_t, tz)
        except (ValueError, OverflowError, OSError):
            shown = raw_t.strip()
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            skip(line, "unparseable date", repr(shown) if shown else "(empty)")
            continue
        if not math.isfinite(ts):
            skip(line, "unparseable date", repr(raw_t.strip()))
            continue
        date_only_all &= date_only
        aware |= had_off
        cat = as_path(row[ci])
        if not cat:
            cat = (UNCATEGORISED,)
            uncategorised += 1
        rows.append(ComplaintRow(ts, area, cat, line))
    rows.sort(key=lambda r: r.ts)
    return ReplayInput(
        rows=rows,
        skipped=skipped,
        rows_read=read,
        encoding=enc,
        delimiter=delim,
        date_only=bool(rows) and date_only_all,
        aware=aware,
        columns=header,
        uncategorised=uncategorised,
        reasons=reasons,
    )


# ----------------------------------------------------------------------------- replay


def detector_config(
    inp: ReplayInput, tz: tzinfo | None = None, resolution: str = "auto", **overrides: Any
) -> DetectorConfig:
    """Detector settings for a replay: daily mode for date-only files, tenant offset from ``tz``."""
    daily = resolution == "day" or (resolution == "auto" and inp.date_only)
    cfg = DetectorConfig.daily() if daily else DetectorConfig()
    offset = 0.0
    if tz is not None and inp.rows:
        ref = datetime.fromtimestamp(inp.rows[0].ts, tz).utcoffset()
        offset = ref.total_seconds() if ref is not None else 0.0
    kw = {k: v for k, v in overrides.items() if v is not None}
    return replace(cfg, utc_offset=offset, **kw)


def replay(inp: ReplayInput, config: DetectorConfig) -> Iterator[tuple[AlertUpdate, ComplaintRow]]:
    """Run the detector over the rows in time order; yield each alert when it first fires."""
    det = Detector(config)
    observe = det.observe
    for row in inp.rows:
        for u in observe(row.ts, row.area, row.category):
            if u.kind == "new":
                yield u, row


def alert_record(
    u: AlertUpdate,
    row: ComplaintRow | None = None,
    tz: tzinfo | None = None,
    *,
    naive: bool = False,
    date_only: bool = False,
) -> dict[str, Any]:
    """The JSON-ready form of an alert (times ISO 8601)."""

    def fmt(ts: float) -> str:
        return format_time(ts, tz, naive=naive, date_only=date_only)

    rec: dict[str, Any] = {
        "alert_id": u.alert_id,
        "start": fmt(u.start),
        "detected_at": fmt(u.detected_at),
        "area": format_path(u.area),
        "category": format_path(u.category),
        "count": u.count,
        "expected": round(u.expected, 4),
        "score": round(u.score, 2),
        "window_minutes": round(u.window / 60.0, 1),
        "area_path": list(u.area),
        "category_path": list(u.category),
        "folded": [{"area": format_path(a), "category": format_path(c), "score": round(s, 2)} for a, c, s in u.folded],
    }
    if row is not None:
        rec["line"] = row.line
    return rec
