"""Simulator benchmark: simulated calls per second, kefu's full engine vs a minimal SimPy model.

The same system twice, in the same process: one queue, 50 agents, Poisson arrivals,
exponential handling times and exponential caller patience (M/M/50+M):

* ``kefu`` — :func:`kefu.analytics.wfm.simulate.simulate`: every call is a task in the
  real :class:`kefu.routing.Router` (events, offers with fencing tokens, timers,
  statistics) on a VirtualClock;
* ``simpy`` — the textbook SimPy model: a ``Resource`` with capacity 50, each caller a
  process that waits for ``request() | timeout(patience)``.

The calls are run in ``--rounds`` interleaved rounds (kefu, SimPy, kefu, SimPy, …, a new
seed each round) so that a busy neighbour on a shared machine slows both alike; figures
are pooled over the rounds. Both skip the same warm-up (first 10 % of each round), measure
the same figures and run under
the same garbage-collector setting (``simulate()`` raises the young-generation threshold
while it runs; the SimPy model gets the same). Speed is reported per CPU second (less
sensitive to other processes on a shared machine) and per wall second. The exact Erlang A
figures are printed too, so it is visible that both model the same system.

    python benchmarks/simulate.py                 # 1,000,000 calls each (a few minutes)
    python benchmarks/simulate.py --calls 100000  # quicker
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from dataclasses import dataclass

import simpy

from kefu.analytics.wfm.erlang import erlang_a_metrics
from kefu.analytics.wfm.simulate import GC_THRESHOLD, Scenario, simulate


@dataclass
class Figures:
    offered: int
    answered: int
    abandoned: int
    service_level: float
    p_wait: float
    asa_seconds: float
    abandon_rate: float
    occupancy: float
    cpu_seconds: float
    wall_seconds: float


def run_simpy(
    calls: int, agents: int, rate_per_min: float, aht: float, patience: float, threshold: float, seed: int
) -> Figures:
    rng = random.Random(seed)
    lam = rate_per_min / 60.0
    warmup = calls // 10
    env = simpy.Environment()
    staff = simpy.Resource(env, capacity=agents)
    s = {"offered": 0, "answered": 0, "abandoned": 0, "in_sl": 0, "queued": 0, "wait": 0.0, "work": 0.0}
    window = {"start": None, "end": None}

    def caller(index: int) -> object:
        arrived = env.now
        measured = index >= warmup
        with staff.request() as req:
            queued = not req.triggered
            result = yield req | env.timeout(rng.expovariate(1.0 / patience))
            if req not in result:
                if measured:
                    s["offered"] += 1
                    s["abandoned"] += 1
                    s["queued"] += queued
                return
            wait = env.now - arrived
            handle = rng.expovariate(1.0 / aht)
            if measured:
                s["offered"] += 1
                s["answered"] += 1
                s["queued"] += queued
                s["wait"] += wait
                s["in_sl"] += wait <= threshold
            if window["start"] is not None and (window["end"] is None or env.now <= window["end"]):
                s["work"] += handle
            yield env.timeout(handle)

    def source() -> object:
        for index in range(calls):
            yield env.timeout(rng.expovariate(lam))
            if index == warmup:
                window["start"] = env.now
            if index == calls - 1:
                window["end"] = env.now
            env.process(caller(index))

    env.process(source())
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], GC_THRESHOLD), *thresholds[1:])
    try:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        env.run()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        gc.set_threshold(*thresholds)
    n = s["offered"]
    span = (window["end"] or 0.0) - (window["start"] or 0.0)
    return Figures(
        offered=n,
        answered=s["answered"],
        abandoned=s["abandoned"],
        service_level=s["in_sl"] / n,
        p_wait=s["queued"] / n,
        asa_seconds=s["wait"] / s["answered"],
        abandon_rate=s["abandoned"] / n,
        occupancy=s["work"] / (span * agents) if span > 0 else float("nan"),
        cpu_seconds=cpu,
        wall_seconds=wall,
    )


def run_kefu(
    calls: int, agents: int, rate_per_min: float, aht: float, patience: float, threshold: float, seed: int
) -> tuple[Figures, int]:
    scenario = Scenario.single_queue(
        arrival_rate_per_min=rate_per_min, aht_s=aht, agents=agents, patience_s=patience, sl_threshold_s=threshold
    )
    r = simulate(scenario, calls, seed=seed)
    return (
        Figures(
            offered=r.offered,
            answered=r.answered,
            abandoned=r.abandoned,
            service_level=r.service_level or 0.0,
            p_wait=r.p_wait or 0.0,
            asa_seconds=r.asa_seconds or 0.0,
            abandon_rate=r.abandon_rate or 0.0,
            occupancy=r.occupancy or 0.0,
            cpu_seconds=r.cpu_seconds,
            wall_seconds=r.wall_seconds,
        ),
        r.events,
    )


def pool(runs: list[Figures]) -> Figures:
    """Figures over several runs: counts and times add up, ratios are weighted."""
    offered = sum(r.offered for r in runs)
    answered = sum(r.answered for r in runs)
    return Figures(
        offered=offered,
        answered=answered,
        abandoned=sum(r.abandoned for r in runs),
        service_level=sum(r.service_level * r.offered for r in runs) / offered,
        p_wait=sum(r.p_wait * r.offered for r in runs) / offered,
        asa_seconds=sum(r.asa_seconds * r.answered for r in runs) / answered,
        abandon_rate=sum(r.abandon_rate * r.offered for r in runs) / offered,
        occupancy=sum(r.occupancy for r in runs) / len(runs),
        cpu_seconds=sum(r.cpu_seconds for r in runs),
        wall_seconds=sum(r.wall_seconds for r in runs),
    )


def calibration() -> float:
    """µs for ``sum(range(1000))`` — about 8–10 µs on a current desktop core."""
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(2000):
            sum(range(1000))
        best = min(best, (time.perf_counter() - t0) / 2000 * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls per model (default 1,000,000)")
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--rate", type=float, default=15.0, help="arrivals per minute (default 15: 45 Erlangs)")
    parser.add_argument("--aht", type=float, default=180.0, help="mean handling time, seconds")
    parser.add_argument("--patience", type=float, default=120.0, help="mean patience, seconds")
    parser.add_argument("--threshold", type=float, default=20.0, help="service-level threshold, seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    args = parser.parse_args()
    per_round = args.calls // args.rounds

    print(
        f"M/M/{args.agents}+M: {args.rate:g} calls/min, AHT {args.aht:g} s, patience {args.patience:g} s, "
        f"{per_round * args.rounds:,} calls per model in {args.rounds} rounds (10 % warm-up each); "
        f"machine calibration sum(range(1000)) = {calibration():.1f} µs"
    )
    kefu_runs, simpy_runs, events = [], [], 0
    for r in range(args.rounds):
        params = (per_round, args.agents, args.rate, args.aht, args.patience, args.threshold, args.seed + r)
        k, n_events = run_kefu(*params)
        kefu_runs.append(k)
        events += n_events
        simpy_runs.append(run_simpy(*params))
        print(
            f"  round {r + 1}: kefu {per_round / k.cpu_seconds:,.0f} calls/CPU s, "
            f"SimPy {per_round / simpy_runs[-1].cpu_seconds:,.0f} calls/CPU s"
        )
    kefu, simpy_figures = pool(kefu_runs), pool(simpy_runs)
    total_calls = per_round * args.rounds
    exact = erlang_a_metrics(args.agents, args.rate / 60, args.aht, args.patience, args.threshold)

    rows = [
        ("offered", kefu.offered, simpy_figures.offered, None),
        ("answered", kefu.answered, simpy_figures.answered, None),
        ("abandoned", kefu.abandoned, simpy_figures.abandoned, None),
        ("service level", kefu.service_level, simpy_figures.service_level, exact.service_level),
        ("P(wait)", kefu.p_wait, simpy_figures.p_wait, exact.p_wait),
        ("ASA (s)", kefu.asa_seconds, simpy_figures.asa_seconds, exact.asa_seconds),
        ("abandon rate", kefu.abandon_rate, simpy_figures.abandon_rate, exact.abandon_rate),
        ("occupancy", kefu.occupancy, simpy_figures.occupancy, exact.occupancy),
    ]
    print(f"\n{'':16}{'kefu engine':>14}{'SimPy model':>14}{'Erlang A':>12}")
    for name, a, b, c in rows:
        if isinstance(a, int):
            print(f"{name:16}{a:>14,}{b:>14,}{'':>12}")
        else:
            print(f"{name:16}{a:>14.4f}{b:>14.4f}{c:>12.4f}")
    kc, sc = total_calls / kefu.cpu_seconds, total_calls / simpy_figures.cpu_seconds
    kw, sw = total_calls / kefu.wall_seconds, total_calls / simpy_figures.wall_seconds
    print(f"\n{'calls / CPU s':16}{kc:>14,.0f}{sc:>14,.0f}    ratio kefu/SimPy {kc / sc:.2f}")
    print(f"{'calls / wall s':16}{kw:>14,.0f}{sw:>14,.0f}    ratio kefu/SimPy {kw / sw:.2f}")
    print(f"kefu emitted {events:,} routing events ({events / total_calls:.1f} per call)")
    print("target: kefu not slower than the SimPy model (ratio >= 1.00)")


if __name__ == "__main__":
    main()
