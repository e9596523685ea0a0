"""``kefu alerts`` commands (mounted by the main CLI; runnable as ``python -m kefu.alerts.cli``).

``replay FILE.csv --time-col NAME --area-col NAME --category-col NAME [--json]`` runs the
early-warning detector over a complaint export in time order and prints each alert as it first
fires: a readable line per alert, or with ``--json`` one JSON object per line with ``alert_id``,
``start`` (first complaint of the cluster), ``detected_at`` (the complaint at which it fired),
``area``, ``category``, ``count``, ``expected``, ``score``, ``window_minutes``, ``line`` (CSV line
of that complaint), ``area_path``, ``category_path`` and ``folded``. A summary of rows read and
skipped goes to stderr.

Exit codes: 0 done; 1 no usable rows; 2 bad invocation or unusable file (missing column,
unreadable or undecodable file, malformed CSV) — with a message naming the line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from kefu.alerts.replay import (
    ReplayError,
    alert_record,
    detector_config,
    parse_tz,
    read_complaints,
    replay,
)

app = typer.Typer(
    name="alerts",
    help="Complaint early warning (预警): detect clusters of complaints by area and category.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _alerts() -> None:
    """Complaint early warning (预警)."""


def _fail(err: Console, message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


@app.command("replay")
def replay_cmd(
    file: Annotated[Path, typer.Argument(help="CSV export of complaints.", show_default=False)],
    time_col: Annotated[str, typer.Option("--time-col", help="Column with the complaint time.")],
    area_col: Annotated[str, typer.Option("--area-col", help="Column with the area (path or code).")],
    category_col: Annotated[str, typer.Option("--category-col", help="Column with the category.")],
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per alert and line.")] = False,
    tz: Annotated[
        str | None,
        typer.Option("--tz", help="Time zone of times without an offset (UTC, +08:00, Asia/Shanghai)."),
    ] = None,
    threshold: Annotated[float | None, typer.Option(help="Score needed to fire (-log10 p).")] = None,
    min_count: Annotated[int | None, typer.Option(help="Fewest complaints in a window to fire.")] = None,
    cooldown_hours: Annotated[float | None, typer.Option(help="Quiet time before an alert closes.")] = None,
    warmup_hours: Annotated[
        float | None,
        typer.Option(help="Learn without alerting for this long (default 24 h; 14 days for dates)."),
    ] = None,
    resolution: Annotated[str, typer.Option(help="auto (daily when every time is a date), minute or day.")] = "auto",
    encoding: Annotated[str | None, typer.Option(help="File encoding (default: UTF-8, then GBK).")] = None,
    delimiter: Annotated[str | None, typer.Option(help="Field delimiter (default: sniffed).")] = None,
    show_skipped: Annotated[int, typer.Option(help="Skipped lines to list in the summary.")] = 10,
) -> None:
    """Replay a CSV of historical complaints and print each alert as it first fires."""
    err = Console(stderr=True, soft_wrap=True)
    out = Console(soft_wrap=True, highlight=False)
    if resolution not in {"auto", "minute", "day"}:
        raise _fail(err, f"--resolution must be auto, minute or day, not {resolution!r}")
    try:
        tzinfo = parse_tz(tz)
    except ValueError as exc:
        raise _fail(err, str(exc)) from None
    try:
        inp = read_complaints(file, time_col, area_col, category_col, tz=tzinfo, encoding=encoding, delimiter=delimiter)
    except ReplayError as exc:
        raise _fail(err, f"{file}: {exc}") from None
    try:
        cfg = detector_config(
            inp,
            tzinfo,
            resolution,
            threshold=threshold,
            min_count=min_count,
            cooldown=None if cooldown_hours is None else cooldown_hours * 3600.0,
            warmup=None if warmup_hours is None else warmup_hours * 3600.0,
        )
    except ValueError as exc:
        raise _fail(err, f"bad detector setting: {exc}") from None

    naive = tzinfo is None and not inp.aware
    daily = cfg.bucket_seconds >= 86400.0
    n_alerts = 0
    for u, row in replay(inp, cfg):
        n_alerts += 1
        rec = alert_record(u, row, tzinfo, naive=naive, date_only=daily)
        if json_out:
            typer.echo(json.dumps(rec, ensure_ascii=False))
        else:
            out.print(
                f"[bold red]ALERT[/] {rec['detected_at']}  [bold]{escape(rec['area'])}[/] · "
                f"{escape(rec['category'])}: [bold]{rec['count']}[/] complaints since {rec['start']} "
                f"(expected {rec['expected']:.3g}), score {rec['score']:.1f}  [dim]line {row.line}[/]"
            )

    used = len(inp.rows)
    parts = [f"rows read: {inp.rows_read}", f"used: {used}", f"skipped: {len(inp.skipped)}"]
    if inp.reasons:
        parts[-1] += " (" + ", ".join(f"{r}: {n}" for r, n in inp.reasons.most_common()) + ")"
    if inp.uncategorised:
        parts.append(f"empty category read as 未分类: {inp.uncategorised}")
    parts.append(f"alerts: {n_alerts}")
    if used:
        span_h = (inp.rows[-1].ts - inp.rows[0].ts) / 3600.0
        warm_h = cfg.warmup / 3600.0
        note = " — the whole file" if span_h <= warm_h else ""
        parts.append(f"first {warm_h:g} h of data learned without alerting{note}")
    parts.append(f"encoding {inp.encoding}, delimiter {inp.delimiter!r}, {'daily' if daily else 'minute'} resolution")
    err.print(escape("; ".join(parts)), highlight=False)
    if inp.skipped and show_skipped > 0:
        shown = "; ".join(f"line {s.line}: {s.reason}" for s in inp.skipped[:show_skipped])
        more = f"; … {len(inp.skipped) - show_skipped} more" if len(inp.skipped) > show_skipped else ""
        err.print(escape(f"skipped {shown}{more}"), highlight=False)
    if used == 0:
        raise _fail(err, "no usable rows to replay", 1)


if __name__ == "__main__":
    app()
