"""Analytics commands: ``kefu simulate``.

The main CLI registers :data:`app`; it also runs on its own::

    python -m kefu.analytics.cli simulate --arrival-rate 20 --aht 180 --agents 65 --json
    python -m kefu.analytics.cli simulate --scenario center.json --calls 50000
"""

from __future__ import annotations

import json
import math
import statistics
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kefu.analytics.wfm.simulate import Burst, Scenario, SimulationResult, simulate

__all__ = ["app", "simulate_command"]

app = typer.Typer(
    name="analytics",
    help="Analytics and workforce management.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _analytics() -> None:
    """Analytics and workforce management."""


class HandleDist(StrEnum):
    exp = "exp"
    lognormal = "lognormal"


def _positive(name: str, value: float | None) -> None:
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise typer.BadParameter("must be a positive number", param_hint=name)


def _parse_profile(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter("a comma-separated list of rate multipliers", param_hint="--profile") from None
    if not values or any(v < 0 or not math.isfinite(v) for v in values) or max(values) <= 0:
        raise typer.BadParameter("multipliers must be >= 0 with at least one > 0", param_hint="--profile")
    return values


def _parse_burst(text: str | None) -> Burst | None:
    """``MULT@START-END`` with START and END in minutes from the start, e.g. ``3@60-120``."""
    if text is None:
        return None
    try:
        mult, window = text.split("@")
        start, end = window.split("-")
        return Burst(float(mult), float(start) * 60.0, float(end) * 60.0)
    except ValueError:
        raise typer.BadParameter(
            "MULTIPLIER@START-END in minutes, e.g. 3@60-120 (start < end, multiplier > 0)", param_hint="--burst"
        ) from None


def _ci95(values: list[float | None]) -> float | None:
    """Half-width of a 95 % confidence interval from batch means (normal approximation)."""
    xs = [v for v in values if v is not None]
    if len(xs) < 2:
        return None
    return 1.96 * statistics.stdev(xs) / math.sqrt(len(xs))


_METRICS = ("service_level", "p_wait", "asa_seconds", "abandon_rate", "occupancy", "mean_wait_all_seconds")


def _erlang(scenario: Scenario) -> tuple[str, dict[str, float]] | None:
    """Exact Erlang C / Erlang A figures for a single-queue scenario, if the module exists."""
    if len(scenario.streams) != 1 or len(scenario.queues) != 1 or len(scenario.agents) != 1:
        return None
    try:
        from kefu.analytics.wfm import erlang
    except ImportError:  # pragma: no cover - the helper module ships with kefu
        return None
    stream = scenario.streams[0]
    agents = scenario.agents[0].count
    rate = stream.rate_per_min / 60.0
    threshold = scenario.queues[0].sl_threshold_s
    if stream.patience_s is None:
        name, m = "Erlang C", erlang.erlang_c_metrics(agents, rate, stream.aht_s, threshold)
    else:
        name, m = "Erlang A", erlang.erlang_a_metrics(agents, rate, stream.aht_s, stream.patience_s, threshold)
    figures = {key: float(getattr(m, key)) for key in _METRICS}
    return name, figures


def _output(result: SimulationResult, scenario: Scenario) -> dict[str, Any]:
    data = result.to_dict()
    batches = data.pop("batches")
    data["ci95"] = {key: _ci95([b.get(key) for b in batches]) for key in _METRICS if key != "occupancy"}
    exact = _erlang(scenario)
    if exact is not None:
        data["model"] = exact[0]
        data["exact"] = exact[1]
    return data


def _fmt(key: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if math.isinf(value):
        return "∞"
    if key.endswith("seconds"):
        return f"{value:,.1f} s"
    return f"{value:.2%}"


def _print_table(data: dict[str, Any], scenario: Scenario) -> None:
    console = Console()
    title = (
        f"{data['calls']:,} calls ({data['warmup']:,} warm-up) · {data['agents']} agents · "
        f"seed {data['seed']} · {data['wall_seconds']:.2f} s wall ({data['calls_per_second']:,.0f} calls/s)"
    )
    table = Table(title=title, caption="simulated through the real router; ± is a 95 % interval from batch means")
    table.add_column("metric", no_wrap=True)
    table.add_column("simulated", justify="right", no_wrap=True)
    table.add_column("± 95 %", justify="right", no_wrap=True)
    model = data.get("model")
    if model is not None:
        table.add_column(f"{model} (exact)", justify="right", no_wrap=True)
    for key in _METRICS:
        row = [key, _fmt(key, data.get(key)), _fmt(key, data["ci95"].get(key)) if key in data["ci95"] else ""]
        if model is not None:
            row.append(_fmt(key, data["exact"][key]))
        table.add_row(*row)
    table.add_row("offered", f"{data['offered']:,}")
    table.add_row("answered", f"{data['answered']:,}")
    table.add_row("abandoned", f"{data['abandoned']:,}")
    console.print(table)
    if model is not None and scenario.streams[0].handle_dist != "exp":
        console.print(f"[dim]{model} assumes exponential handling times; this run used lognormal.[/dim]")
    for label, figures in data["per_stream"].items():
        parts = ", ".join(f"{k} {_fmt(k, figures.get(k))}" for k in ("service_level", "asa_seconds", "abandon_rate"))
        console.print(f"  {label}: {figures['offered']:,} offered, {parts}")


@app.command("simulate")
def simulate_command(
    arrival_rate: Annotated[
        float | None, typer.Option("--arrival-rate", help="Arrivals, calls per minute (single queue).")
    ] = None,
    aht: Annotated[float | None, typer.Option("--aht", help="Mean handling time, seconds. [default: 180]")] = None,
    agents: Annotated[int | None, typer.Option("--agents", min=1, help="Number of agents. [default: 10]")] = None,
    patience: Annotated[
        float | None, typer.Option("--patience", help="Mean caller patience, seconds (absent: callers never abandon).")
    ] = None,
    sl_threshold: Annotated[
        float | None, typer.Option("--sl-threshold", help="Service-level threshold, seconds. [default: 20]")
    ] = None,
    handle_dist: Annotated[
        HandleDist | None, typer.Option("--handle-dist", help="Handling-time distribution. [default: exp]")
    ] = None,
    handle_cv: Annotated[
        float | None, typer.Option("--handle-cv", help="Coefficient of variation for lognormal handling times.")
    ] = None,
    ring_delay: Annotated[
        float | None, typer.Option("--ring-delay", help="Seconds an agent lets an offer ring. [default: 0]")
    ] = None,
    wrap_up: Annotated[float | None, typer.Option("--wrap-up", help="Wrap-up seconds after each call.")] = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", help="Intraday rate multipliers, comma-separated, equal slots over 24 h."),
    ] = None,
    burst: Annotated[
        str | None, typer.Option("--burst", help="Rate burst MULT@START-END, minutes from the start (3@60-120).")
    ] = None,
    scenario_file: Annotated[
        Path | None,
        typer.Option(
            "--scenario", exists=True, dir_okay=False, readable=True, help="Multi-queue scenario (JSON file)."
        ),
    ] = None,
    calls: Annotated[int, typer.Option("--calls", min=1, help="Number of calls to simulate.")] = 10_000,
    warmup: Annotated[
        int | None, typer.Option("--warmup", min=0, help="Warm-up calls not measured. [default: 10 % of --calls]")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same result).")] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Simulate a call center through the real routing engine in virtual time."""
    single_queue_flags = {
        "--arrival-rate": arrival_rate,
        "--aht": aht,
        "--agents": agents,
        "--patience": patience,
        "--sl-threshold": sl_threshold,
        "--handle-dist": handle_dist,
        "--handle-cv": handle_cv,
        "--wrap-up": wrap_up,
    }
    if scenario_file is not None:
        given = [flag for flag, value in single_queue_flags.items() if value is not None]
        if given:
            raise typer.BadParameter(
                f"{', '.join(given)} cannot be combined with a scenario file", param_hint="--scenario"
            )
        try:
            scenario = Scenario.from_json_file(scenario_file)
        except (ValueError, KeyError, TypeError) as exc:
            raise typer.BadParameter(f"invalid scenario: {exc}", param_hint="--scenario") from exc
        changes: dict[str, Any] = {}
        if ring_delay is not None:
            changes["ring_delay_s"] = ring_delay
        if profile is not None:
            changes["profile"] = _parse_profile(profile)
        if burst is not None:
            changes["burst"] = _parse_burst(burst)
        scenario = scenario.with_overrides(**changes) if changes else scenario
    else:
        if arrival_rate is None:
            raise typer.BadParameter(
                "give the arrival rate (calls per minute) or a --scenario file", param_hint="--arrival-rate"
            )
        for name, value in (
            ("--arrival-rate", arrival_rate),
            ("--aht", aht),
            ("--patience", patience),
            ("--handle-cv", handle_cv),
        ):
            _positive(name, value)
        for name, value in (("--sl-threshold", sl_threshold), ("--ring-delay", ring_delay), ("--wrap-up", wrap_up)):
            if value is not None and not (value >= 0 and math.isfinite(value)):
                raise typer.BadParameter("must be a number >= 0", param_hint=name)
        scenario = Scenario.single_queue(
            arrival_rate_per_min=arrival_rate,
            aht_s=aht if aht is not None else 180.0,
            agents=agents if agents is not None else 10,
            patience_s=patience,
            sl_threshold_s=sl_threshold if sl_threshold is not None else 20.0,
            handle_dist=(handle_dist or HandleDist.exp).value,
            handle_cv=handle_cv if handle_cv is not None else 1.0,
            ring_delay_s=ring_delay or 0.0,
            wrap_up_s=wrap_up or 0.0,
            profile=_parse_profile(profile),
            burst=_parse_burst(burst),
        )
    if warmup is not None and warmup >= calls:
        raise typer.BadParameter("the warm-up must be smaller than --calls", param_hint="--warmup")
    try:
        result = simulate(scenario, calls, seed=seed, warmup=warmup)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    data = _output(result, scenario)
    if json_output:
        typer.echo(json.dumps(data, allow_nan=False, default=_json_default))
    else:
        _print_table(data, scenario)


def _json_default(value: Any) -> Any:  # pragma: no cover - only non-finite floats end here
    return None


if __name__ == "__main__":
    app()
