"""Complaint early-warning benchmark: detection delay, recall, false alerts and throughput.

Generates a synthetic complaint stream (:mod:`kefu.alerts.synthetic`: a province / city /
district / compound tree, categories in a tree, per-compound rates mostly <= 1 a day, daily
and weekly seasonality, over-dispersed days) with injected bursts of 5–30 complaints lasting
8 minutes to 4 hours, and runs :class:`kefu.alerts.Detector` over it — ``--warmup-days`` of
history without bursts first (learned online, like a replay), then ``--days`` measured days.

Printed:

* **recall** — share of qualifying bursts (>= 5 complaints within 30 min in a compound whose
  baseline is <= 1 a day) detected within 15 minutes of their 3rd complaint;
* **detection delay** from the 3rd complaint (median, p95) of detected qualifying bursts;
* **false alerts per 1,000 area-days** (compound-days of the measured period): new alerts that
  match no injected burst, on the stream with bursts and on the same stream without them;
* **throughput**: complaint events per second through the detector on one core (CPU time of
  this single-threaded process, best of ``--repeat`` runs): over the measured days with a warm
  detector (it has seen the warm-up days untimed — a running service), through
  ``Detector.observe_many`` (batches, as a queue consumer would) and through one
  ``Detector.observe`` call per complaint; and from a cold start over the whole stream (new
  keys, thin baselines); with the bursts and without them. A reference loop timing is printed
  so figures from different machines can be compared;
* the same figures for two naive detectors run here on the same stream, and the ratios: a
  fixed-count rule "≥ 3 complaints in 60 min" per (compound, category) with the same cool-down
  (the usual hand-made rule), and a scan detector that tests the same cells and windows but
  recomputes window counts by scanning and a Poisson tail for every window at every complaint
  (the same idea without the incremental hot path; ``--no-scan`` skips it, it is slow).

    python benchmarks/alerts.py                      # 1,000 compounds, 60 + 28 days
    python benchmarks/alerts.py --areas 2000 --days 90 --seed 7
    python benchmarks/alerts.py --json
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from kefu.alerts import AlertUpdate, Detector, DetectorConfig
from kefu.alerts.synthetic import Evaluation, SyntheticStream, evaluate, generate

Path = tuple[str, ...]
Event = tuple[float, Path, Path]

TARGETS = {"recall": 0.95, "false_per_1000_area_days": 1.0, "delay_limit_s": 900.0, "events_per_s": 100_000}


class FixedCountDetector:
    """Naive baseline: alert when a (compound, category) key has >= k complaints in w seconds.

    One deque of timestamps per key, one alert per key until ``cooldown`` of quiet.
    """

    def __init__(self, k: int = 3, window: float = 3600.0, cooldown: float = 6 * 3600.0) -> None:
        self.k, self.window, self.cooldown = k, window, cooldown
        self._q: dict[tuple[Path, Path], deque[float]] = {}
        self._last: dict[tuple[Path, Path], float] = {}
        self._seq = 0

    def observe(self, t: float, area: Path, category: Path) -> Sequence[AlertUpdate]:
        key = (area, category)
        q = self._q.get(key)
        if q is None:
            q = self._q[key] = deque()
        q.append(t)
        cut = t - self.window
        while q[0] <= cut:
            q.popleft()
        last = self._last.get(key)
        if last is not None and t - last <= self.cooldown:
            self._last[key] = t
            return ()
        if len(q) >= self.k:
            self._last[key] = t
            self._seq += 1
            return [AlertUpdate(f"fc{self._seq}", "new", area, category, q[0], t, t, len(q), 0.0, 0.0, self.window)]
        return ()


class ScanDetector:
    """Naive implementation of the same idea: recompute everything at every complaint.

    The same cells (every area prefix × category prefix) and windows as :class:`Detector`; per
    cell a list of timestamps, trimmed and counted per window by scanning it; expected counts
    from the cell's mean rate so far (no seasonality, a flat prior); a Poisson tail from scipy
    for every window of every cell at every complaint; one alert per cell until ``cooldown``
    of quiet, no de-duplication across the hierarchy. A throughput baseline above all.
    """

    def __init__(self, cfg: DetectorConfig) -> None:
        from scipy.special import gammainc

        self._tail = gammainc
        self.cfg = cfg
        self._cells: dict[tuple[Path, Path], list[float]] = {}
        self._total: dict[tuple[Path, Path], int] = {}
        self._last: dict[tuple[Path, Path], float] = {}
        self._t0: float | None = None
        self._seq = 0

    def observe(self, t: float, area: Path, category: Path) -> Sequence[AlertUpdate]:
        cfg = self.cfg
        if self._t0 is None:
            self._t0 = t
        hours = max(24.0, (t - self._t0) / 3600.0)
        armed = t - self._t0 >= cfg.warmup
        best: tuple[float, Path, Path, int, float, float] | None = None
        for i in range(len(area), 0, -1):
            for j in range(len(category), 0, -1):
                key = (area[:i], category[:j])
                q = self._cells.setdefault(key, [])
                q.append(t)
                while q and q[0] <= t - cfg.windows[-1]:
                    q.pop(0)
                n_total = self._total[key] = self._total.get(key, 0) + 1
                rate = (n_total + 0.5) / hours / 3600.0  # per second, flat prior of half a complaint
                last = self._last.get(key)
                for w in cfg.windows:
                    cnt = sum(1 for x in q if x > t - w)
                    if cnt < cfg.min_count:
                        continue
                    p = float(self._tail(cnt, rate * w)) * len(cfg.windows)
                    score = -math.log10(p) if p > 0 else 300.0
                    quiet = last is None or t - last > cfg.cooldown
                    if score >= cfg.threshold and armed and quiet and (best is None or score > best[0]):
                        best = (score, key[0], key[1], cnt, rate * w, w)
                if last is not None and t - last <= cfg.cooldown:
                    self._last[key] = t
        if best is None:
            return ()
        score, a, c, cnt, lam, w = best
        self._last[(a, c)] = t
        self._seq += 1
        return [AlertUpdate(f"sc{self._seq}", "new", a, c, t, t, t, cnt, lam, score, w)]


def run(
    make: Callable[[], Any], events: list[Event], repeat: int, measure_from: float
) -> tuple[list[AlertUpdate], dict[str, float]]:
    """Feed ``events`` to fresh detectors; return (updates of the first run, throughputs).

    Throughputs (events/s, CPU time, best of ``repeat``): ``steady`` over the events from
    ``measure_from`` on, the detector having seen the earlier ones untimed (a service that is
    already warm), one ``observe`` call per complaint; ``steady_batch`` the same through
    ``observe_many`` (detectors that have it); ``all`` over the whole stream from a fresh
    detector, per call, also as ``all_wall`` (wall clock).
    """
    split = next((i for i, e in enumerate(events) if e[0] >= measure_from), len(events))
    parts = ["all", "steady"] + (["steady_batch"] if hasattr(make(), "observe_many") else [])
    best = dict.fromkeys([*parts, "all_wall"], math.inf)
    updates: list[AlertUpdate] = []
    for r in range(repeat):
        for part in parts:
            det = make()
            observe = det.observe
            out: list[AlertUpdate] = []
            extend = out.extend
            timed = events
            if part != "all":
                for t, a, k in events[:split]:
                    observe(t, a, k)
                timed = events[split:]
            gc.collect()
            gc.disable()
            try:
                c0, w0 = time.process_time(), time.perf_counter()
                if part == "steady_batch":
                    out = det.observe_many(timed)
                else:
                    for t, a, k in timed:
                        u = observe(t, a, k)
                        if u:
                            extend(u)
                c1, w1 = time.process_time(), time.perf_counter()
            finally:
                gc.enable()
            n = max(1, len(timed))
            best[part] = min(best[part], (c1 - c0) / n)
            if part == "all":
                best["all_wall"] = min(best["all_wall"], (w1 - w0) / n)
                if r == 0:
                    updates = out
    return updates, {k: 1.0 / v if 0 < v < math.inf else math.nan for k, v in best.items()}


def reference_loop_ns() -> float:
    """Machine speed reference: ns per iteration of ``for i in range(N): x += i`` (best of 5)."""
    best = math.inf
    for _ in range(5):
        x = 0
        t0 = time.perf_counter()
        for i in range(200_000):
            x += i
        best = min(best, time.perf_counter() - t0)
    return best / 200_000 * 1e9


def summarise(name: str, ev: Evaluation, ev_bg: Evaluation, eps: dict[str, float], eps_bg: dict[str, float]) -> dict:
    return {
        "detector": name,
        "qualifying_bursts": ev.qualifying,
        "recall_15min": ev.recall,
        "detected_at_all": ev.detected_any / ev.qualifying if ev.qualifying else float("nan"),
        "delay_median_s": ev.delay_quantile(0.5) if ev.delays else float("nan"),
        "delay_p95_s": ev.delay_quantile(0.95) if ev.delays else float("nan"),
        "alerts": ev.alerts,
        "false_alerts": ev.false_alerts,
        "false_per_1000_area_days": ev.false_per_1000_area_days,
        "false_alerts_background_only": ev_bg.false_alerts,
        "false_per_1000_area_days_background_only": ev_bg.false_per_1000_area_days,
        "events_per_s_steady_batch": eps.get("steady_batch", math.nan),
        "events_per_s_steady_batch_background_only": eps_bg.get("steady_batch", math.nan),
        "events_per_s_steady": eps["steady"],
        "events_per_s_steady_background_only": eps_bg["steady"],
        "events_per_s_from_scratch": eps["all"],
        "events_per_s_from_scratch_wall": eps["all_wall"],
        "events_per_s_from_scratch_background_only": eps_bg["all"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--areas", type=int, default=1000, help="compounds (default 1000)")
    p.add_argument("--days", type=float, default=60, help="measured days (default 60)")
    p.add_argument("--warmup-days", type=float, default=28, help="history before the measured days (default 28)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--bursts-per-1000", type=float, default=4.0, help="bursts per 1,000 area-days (default 4)")
    p.add_argument("--threshold", type=float, default=None, help="detector score threshold (default: config)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per detector (best is reported)")
    p.add_argument("--no-scan", action="store_true", help="skip the slow recomputing baseline")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    stream: SyntheticStream = generate(
        args.areas,
        args.days,
        seed=args.seed,
        warmup_days=args.warmup_days,
        bursts_per_1000_area_days=args.bursts_per_1000,
    )
    gen_s = time.perf_counter() - t0
    cfg = DetectorConfig() if args.threshold is None else DetectorConfig(threshold=args.threshold)

    m0 = stream.measure_start
    ours, eps = run(lambda: Detector(cfg), stream.events, args.repeat, m0)
    ours_bg, eps_bg = run(lambda: Detector(cfg), stream.background, args.repeat, m0)
    naive, n_eps = run(lambda: FixedCountDetector(cooldown=cfg.cooldown), stream.events, args.repeat, m0)
    naive_bg, n_eps_bg = run(lambda: FixedCountDetector(cooldown=cfg.cooldown), stream.background, args.repeat, m0)

    res_ours = summarise("kefu Detector", evaluate(stream, ours), evaluate(stream, ours_bg), eps, eps_bg)
    res_naive = summarise(
        "fixed count >=3 in 60 min", evaluate(stream, naive), evaluate(stream, naive_bg), n_eps, n_eps_bg
    )
    results = [res_ours, res_naive]
    if not args.no_scan:
        scan, s_eps = run(lambda: ScanDetector(cfg), stream.events, 1, m0)
        ev_scan = evaluate(stream, scan)
        nan = {k: math.nan for k in s_eps}
        res_scan = summarise("scan (same cells, recomputed)", ev_scan, ev_scan, s_eps, nan)
        res_scan["false_alerts_background_only"] = None
        res_scan["false_per_1000_area_days_background_only"] = math.nan
        results.append(res_scan)
    n_bursts = len(stream.bursts)
    report = {
        "stream": {
            "compounds": stream.n_areas,
            "measured_days": stream.measured_days,
            "warmup_days": args.warmup_days,
            "area_days": stream.area_days,
            "events": len(stream.events),
            "background_events": len(stream.background),
            "bursts": n_bursts,
            "qualifying_bursts": sum(b.qualifying for b in stream.bursts),
            "mean_rate_per_compound_day": stream.meta["mean_rate_per_day"],
            "seed": args.seed,
            "generate_s": gen_s,
        },
        "config": cfg.to_dict(),
        "results": results,
        "ratios": {
            "false_alerts_naive_over_ours": _ratio(res_naive["false_alerts"], res_ours["false_alerts"]),
            "throughput_ours_over_naive": eps["steady"] / n_eps["steady"],
            "throughput_ours_over_scan": (eps["steady"] / results[2]["events_per_s_steady"])
            if len(results) > 2
            else None,
        },
        "targets": TARGETS,
        "targets_met": {
            "recall": res_ours["recall_15min"] >= TARGETS["recall"],
            "false_alerts": res_ours["false_per_1000_area_days"] <= TARGETS["false_per_1000_area_days"],
            "delay": (res_ours["delay_p95_s"] <= TARGETS["delay_limit_s"]),
            "throughput_observe_many": eps["steady_batch"] >= TARGETS["events_per_s"],
            "throughput_observe": eps["steady"] >= TARGETS["events_per_s"],
        },
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "reference_loop_ns_per_iter": reference_loop_ns(),
        },
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        _print_tables(report)
    return 0


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _print_tables(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(width=None if sys.stdout.isatty() else 118)
    st = report["stream"]
    con.print(
        f"[bold]Stream[/]: {st['compounds']:,} compounds × {st['measured_days']:g} measured days "
        f"(+{st['warmup_days']:g} warm-up) = {st['area_days']:,.0f} area-days; {st['events']:,} complaints "
        f"({st['background_events']:,} background, "
        f"mean {st['mean_rate_per_compound_day']:.2f}/compound-day); "
        f"{st['bursts']} bursts, {st['qualifying_bursts']} qualifying; seed {st['seed']}"
    )
    t = Table(title="Complaint early warning — synthetic benchmark", show_lines=False)
    t.add_column("metric")
    for r in report["results"]:
        t.add_column(r["detector"], justify="right")
    t.add_column("target", justify="right")

    def row(label: str, key: str, fmt: Callable[[Any], str], target: str = "") -> None:
        t.add_row(label, *(fmt(r[key]) for r in report["results"]), target)

    pct = lambda x: f"{100 * x:.1f} %"  # noqa: E731
    sec = lambda x: "–" if x != x else f"{x / 60:.1f} min" if abs(x) >= 60 else f"{x:.0f} s"  # noqa: E731
    num = lambda x: "–" if x is None or x != x else f"{x:,.0f}"  # noqa: E731
    two = lambda x: "–" if x is None or x != x else f"{x:.2f}"  # noqa: E731
    row("recall (≤ 15 min after 3rd complaint)", "recall_15min", pct, "≥ 95 %")
    row("detected at all", "detected_at_all", pct)
    row("delay from 3rd complaint, median", "delay_median_s", sec)
    row("delay from 3rd complaint, p95", "delay_p95_s", sec, "≤ 15 min")
    row("new alerts (measured period)", "alerts", num)
    row("false alerts", "false_alerts", num)
    row("false alerts / 1,000 area-days", "false_per_1000_area_days", two, "≤ 1")
    row("false alerts / 1,000 area-days, no bursts", "false_per_1000_area_days_background_only", two, "≤ 1")
    row("throughput, events/s, warm, observe_many", "events_per_s_steady_batch", num, "≥ 100,000")
    row("  same, without the bursts", "events_per_s_steady_batch_background_only", num)
    row("throughput, warm, one observe() per event", "events_per_s_steady", num, "≥ 100,000")
    row("  same, without the bursts", "events_per_s_steady_background_only", num)
    row("  from a cold start (incl. warm-up days)", "events_per_s_from_scratch", num)
    row("  from a cold start, without the bursts", "events_per_s_from_scratch_background_only", num)
    row("  from a cold start, wall clock", "events_per_s_from_scratch_wall", num)
    con.print(t)
    ra = report["ratios"]
    fa = ra["false_alerts_naive_over_ours"]
    parts = []
    if fa:
        parts.append(f"false alerts fixed-count/ours = {fa:.1f}×")
    parts.append(f"throughput ours/fixed-count = {ra['throughput_ours_over_naive']:.2f}×")
    if ra.get("throughput_ours_over_scan"):
        parts.append(f"throughput ours/scan = {ra['throughput_ours_over_scan']:.1f}×")
    con.print("Ratios (warm throughput): " + "; ".join(parts))
    met = report["targets_met"]
    con.print("Targets: " + ", ".join(f"{k} {'met' if v else '[red]NOT met[/]'}" for k, v in met.items()))
    m = report["machine"]
    con.print(
        f"[dim]Python {m['python']} on {m['platform']}; reference loop "
        f"{m['reference_loop_ns_per_iter']:.0f} ns/iter (`for i in range(n): x += i`)[/]"
    )


if __name__ == "__main__":
    sys.exit(main())
