"""Routing-engine benchmark: assignments per second and decision latency.

Runs the real :class:`kefu.routing.Router` (VirtualClock, a list sink collecting every
event) at 500, 5,000 and 20,000 agents with 1,000 queues and 50 skills: every agent has
4 skills (levels 1–5), half the queues require one skill at a minimum level, half require
two skills. Two regimes are measured:

* **agents in surplus (L1)** — 90 % of the agents are idle; each new task takes the best
  idle eligible agent of its queue at once. A cycle is ``submit_task`` (the routing
  decision: match + offer) → ``accept`` → later ``complete`` (the agent re-enters the idle
  index of each of its queues).
* **tasks in surplus (L2)** — every agent is busy and every queue has a backlog; each
  ``complete`` frees an agent which takes the best head task among its own queues (the
  routing decision), then accepts it; a new task is submitted to keep the backlog.

Printed per size: routing decisions per second (time spent in the deciding call only),
full lifecycle assignments per second (all router calls of a cycle), p50/p99 decision
latency, the slowdown 20,000 vs 500 agents, and the same L1 workload through a naive
matcher that scans every agent per decision (what app_queue / mod_callcenter effectively
do), run in this process.

    python benchmarks/routing.py            # full run (~1–2 minutes)
    python benchmarks/routing.py --quick    # fewer assignments
    python benchmarks/routing.py --profile  # cProfile of the 20,000-agent L1 run
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from kefu.core.time import VirtualClock
from kefu.routing import AgentConfig, QueueConfig, Router, parse_requirement

SKILLS = [f"s{i:02d}" for i in range(50)]
QUEUES = 1000
SKILLS_PER_AGENT = 4


@dataclass
class Workload:
    agents: list[AgentConfig]
    queues: list[QueueConfig]
    busy_queues: list[str]  # queues with at least one eligible agent (tasks go there)


def make_workload(n_agents: int, seed: int = 7) -> Workload:
    rng = random.Random(seed)
    queues: list[QueueConfig] = []
    for i in range(QUEUES):
        if i % 2 == 0:
            skill = rng.choice(SKILLS)
            expr = f"{skill}>={rng.randint(1, 3)}"
        else:
            a, b = rng.sample(SKILLS, 2)
            expr = f"{a}>=1 AND {b}>=1"
        queues.append(QueueConfig(f"q{i:04d}", eligibility=expr, offer_timeout_s=30.0))
    agents = []
    for i in range(n_agents):
        skills = {s: rng.randint(1, 5) for s in rng.sample(SKILLS, SKILLS_PER_AGENT)}
        agents.append(AgentConfig(f"a{i:05d}", skills, {"voice": 1}))
    matchers = [(q.id, parse_requirement(q.eligibility).matches) for q in queues]
    busy = [qid for qid, match in matchers if any(match(a.skills) for a in agents)]
    return Workload(agents, queues, busy)


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class Bench:
    def __init__(self, work: Workload, seed: int = 11) -> None:
        self.work = work
        self.clock = VirtualClock(1_700_000_000.0)
        self.events: list[object] = []
        self.router = Router(self.clock, self.events.append)
        for q in work.queues:
            self.router.upsert_queue(q)
        for a in work.agents:
            self.router.upsert_agent(a)
            self.router.set_status(a.id, "available")
        self.rng = random.Random(seed)
        self.n = 0
        self.offers: dict[str, tuple[str, int]] = {}  # task → (agent, token) of its last offer
        self.event_count = 0
        self.assigned: deque[str] = deque()  # tasks assigned, oldest first
        self.backlog = False
        self.events.clear()

    def take_offers(self) -> None:
        """Read the new TaskOffered events (as an agent desktop would) and reset the list."""
        for ev in self.events:
            if ev.type == "task.offered":  # type: ignore[attr-defined]
                self.offers[ev.task_id] = (ev.agent_ids[0], ev.token)  # type: ignore[attr-defined]
        self.event_count += len(self.events)
        self.events.clear()

    def warm_up(self) -> None:
        """One task through every queue, so that its matching bucket exists (buckets are
        created lazily on a queue's first task) before anything is timed."""
        router = self.router
        for queue_id in self.work.busy_queues:
            task_id = self.new_task_id()
            router.submit_task(task_id, queue_id)
            self.take_offers()
            offer = self.offers.pop(task_id, None)
            if offer is None:
                router.cancel(task_id)
            else:
                router.accept(task_id, offer[0], offer[1])
                router.complete(task_id)
            self.take_offers()
            self.clock.advance(0.001)
        self.offers.clear()

    def new_task_id(self) -> str:
        self.n += 1
        return f"t{self.n}"

    def run_l1(self, assignments: int) -> Sample:
        """Agents in surplus: about 10 % of the agents busy at any time."""
        router, rng, clock = self.router, self.rng, self.clock
        queues = self.work.busy_queues
        target_busy = max(1, len(self.work.agents) // 10)
        busy = self.assigned
        decide: list[float] = []
        total_ns = 0
        perf = time.perf_counter_ns
        done = 0
        while done < assignments:
            task_id = self.new_task_id()
            queue_id = rng.choice(queues)
            t0 = perf()
            router.submit_task(task_id, queue_id)
            t1 = perf()
            decide.append(t1 - t0)
            self.take_offers()
            offer = self.offers.pop(task_id, None)
            t2 = perf()
            if offer is not None:
                router.accept(task_id, offer[0], offer[1])
                busy.append(task_id)
                done += 1
            else:  # every eligible agent busy: drop the task
                router.cancel(task_id)
            t3 = perf()
            total_ns += (t1 - t0) + (t3 - t2)
            if len(busy) > target_busy:
                t4 = perf()
                router.complete(busy.popleft())
                total_ns += perf() - t4
                self.take_offers()
            clock.advance(0.001)  # time moves on: 1 ms per cycle
        return Sample(decide, assignments, total_ns)

    def fill_backlog(self) -> None:
        """Submit a task to every queue, pass after pass, until no agent is idle any more:
        then every queue with agents has a backlog and every agent is busy."""
        router = self.router
        while True:
            assigned = 0
            for queue_id in self.work.busy_queues:
                task_id = self.new_task_id()
                router.submit_task(task_id, queue_id)
                self.take_offers()
                offer = self.offers.pop(task_id, None)
                if offer is not None:
                    router.accept(task_id, offer[0], offer[1])
                    self.assigned.append(task_id)
                    assigned += 1
            self.take_offers()
            if not assigned:
                return

    def run_l2(self, assignments: int) -> Sample:
        """Tasks in surplus: each completion frees an agent that takes the best head task."""
        router, rng, clock = self.router, self.rng, self.clock
        queues = self.work.busy_queues
        if not self.backlog:
            self.fill_backlog()
            self.backlog = True
        decide: list[float] = []
        total_ns = 0
        perf = time.perf_counter_ns
        done = 0
        while done < assignments and self.assigned:
            task_id = self.assigned.popleft()
            t0 = perf()
            router.complete(task_id)  # the freed agent takes its best head task (decision)
            t1 = perf()
            self.take_offers()
            total_ns += t1 - t0
            decided = False
            while self.offers:
                new_task, (agent_id, token) = self.offers.popitem()
                t2 = perf()
                router.accept(new_task, agent_id, token)
                total_ns += perf() - t2
                self.assigned.append(new_task)
                decided = True
                done += 1
            self.take_offers()
            if decided:
                decide.append(t1 - t0)
            # keep the backlog: a new task for a random queue
            t3 = perf()
            router.submit_task(self.new_task_id(), rng.choice(queues))
            total_ns += perf() - t3
            self.take_offers()
            clock.advance(0.001)
        return Sample(decide, done, total_ns)


@dataclass
class Sample:
    """Per-call wall times (ns) of routing decisions, assignments made, and the wall time
    of every router call of those cycles (ns)."""

    decide_ns: list[float]
    assignments: int
    total_ns: int

    def add(self, other: Sample) -> None:
        self.decide_ns.extend(other.decide_ns)
        self.assignments += other.assignments
        self.total_ns += other.total_ns


def summarise(sample: Sample) -> dict[str, float]:
    decide_s = sum(sample.decide_ns) / 1e9
    return {
        "assignments": sample.assignments,
        "decisions_per_s": len(sample.decide_ns) / decide_s if decide_s else float("nan"),
        "lifecycle_per_s": sample.assignments / (sample.total_ns / 1e9) if sample.total_ns else float("nan"),
        "p50_us": percentile(sample.decide_ns, 0.50) / 1e3,
        "p99_us": percentile(sample.decide_ns, 0.99) / 1e3,
    }


class NaiveMatcher:
    """Baseline: scan every agent per decision (longest idle among eligible idle agents)."""

    def __init__(self, work: Workload) -> None:
        self.skills = [a.skills for a in work.agents]
        self.idle_since = [0.0] * len(work.agents)
        self.idle = [True] * len(work.agents)
        self.matchers: dict[str, Callable[[dict[str, int]], bool]] = {
            q.id: parse_requirement(q.eligibility).matches for q in work.queues
        }

    def decide(self, queue_id: str) -> int | None:
        match = self.matchers[queue_id]
        best, best_since = None, 0.0
        idle, since, skills = self.idle, self.idle_since, self.skills
        for i in range(len(skills)):
            if idle[i] and match(skills[i]) and (best is None or since[i] < best_since):
                best, best_since = i, since[i]
        return best

    def run(self, work: Workload, decisions: int, seed: int = 11) -> dict[str, float]:
        rng = random.Random(seed)
        busy: deque[int] = deque()
        target_busy = max(1, len(work.agents) // 10)
        times: list[float] = []
        perf = time.perf_counter_ns
        clock = 0.0
        while len(times) < decisions:
            queue_id = rng.choice(work.busy_queues)
            t0 = perf()
            agent = self.decide(queue_id)
            if agent is not None:
                self.idle[agent] = False
            times.append(perf() - t0)
            if agent is not None:
                busy.append(agent)
            if len(busy) > target_busy:
                freed = busy.popleft()
                self.idle[freed] = True
                clock += 0.001
                self.idle_since[freed] = clock
        total = sum(times) / 1e9
        return {"decisions_per_s": len(times) / total, "p99_us": percentile(times, 0.99) / 1e3}


def calibration() -> float:
    """µs for ``sum(range(1000))``: about 8–10 µs on a current desktop core."""
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(2000):
            sum(range(1000))
        best = min(best, (time.perf_counter() - t0) / 2000 * 1e6)
    return best


REFERENCE_CALIBRATION_US = 9.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="30,000 assignments per size and regime")
    parser.add_argument("--sizes", default="500,5000,20000", help="agent counts, comma-separated")
    parser.add_argument("--assignments", type=int, default=200_000, help="assignments per size and regime")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds over the sizes")
    parser.add_argument("--profile", action="store_true", help="cProfile the largest size's L1 rounds")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    n_assign = 30_000 if args.quick else args.assignments
    per_round = max(1, n_assign // args.rounds)
    calib = calibration()

    print(f"routing benchmark: {QUEUES} queues, {len(SKILLS)} skills, {SKILLS_PER_AGENT} skills per agent")
    print(
        f"{per_round * args.rounds:,} assignments per size and regime in {args.rounds} rounds interleaved "
        "over the sizes; real Router, VirtualClock, list sink collecting every event"
    )
    print(
        f"machine calibration: sum(range(1000)) = {calib:.1f} µs (≈ {REFERENCE_CALIBRATION_US:g} µs on a desktop core)\n"
    )
    benches: dict[int, Bench] = {}
    for n in sizes:
        t0 = time.perf_counter()
        work = make_workload(n)
        bench = Bench(work)
        bench.warm_up()
        agents = bench.router._agents.values()
        print(
            f"{n:>6} agents: setup {time.perf_counter() - t0:.1f} s, "
            f"{sum(len(a.queues) for a in agents) / n:.1f} queues and "
            f"{sum(len(a.buckets) for a in agents) / n:.1f} matching buckets per agent, "
            f"{len(work.busy_queues)} queues with agents"
        )
        benches[n] = bench
    gc.collect()
    gc.freeze()
    samples: dict[tuple[int, str], Sample] = {}
    prof = cProfile.Profile() if args.profile else None
    for regime in ("l1", "l2"):
        for _ in range(args.rounds):
            for n in sizes:
                bench = benches[n]
                profiling = prof is not None and regime == "l1" and n == max(sizes)
                if profiling:
                    prof.enable()
                sample = bench.run_l1(per_round) if regime == "l1" else bench.run_l2(per_round)
                if profiling:
                    prof.disable()
                if (n, regime) in samples:
                    samples[(n, regime)].add(sample)
                else:
                    samples[(n, regime)] = sample
    gc.unfreeze()
    if prof is not None:
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)

    results: dict[int, dict[str, dict[str, float]]] = {}
    print()
    for n in sizes:
        work = benches[n].work
        naive = NaiveMatcher(work).run(work, max(200, min(20_000, 4_000_000 // n)))
        l1, l2 = summarise(samples[(n, "l1")]), summarise(samples[(n, "l2")])
        results[n] = {"l1": l1, "l2": l2, "naive": naive}
        print(f"{n:>6} agents ({benches[n].event_count:,} events collected)")
        for name, r in (("L1 agents in surplus", l1), ("L2 tasks in surplus", l2)):
            print(
                f"    {name:<22} decisions/s {r['decisions_per_s']:>9,.0f}   full lifecycle/s "
                f"{r['lifecycle_per_s']:>9,.0f}   p50 {r['p50_us']:6.1f} µs   p99 {r['p99_us']:6.1f} µs"
            )
        speedup = l1["decisions_per_s"] / naive["decisions_per_s"]
        print(
            f"    naive scan-all matcher decisions/s {naive['decisions_per_s']:>9,.0f}   "
            f"p99 {naive['p99_us']:9.1f} µs → the router decides {speedup:,.1f}× faster"
        )
    lo, hi = min(sizes), max(sizes)
    if lo != hi:
        print()
        for regime in ("l1", "l2"):
            a, b = results[lo][regime], results[hi][regime]
            print(
                f"slowdown {hi:,} vs {lo:,} agents ({regime.upper()}): decisions/s "
                f"{a['decisions_per_s'] / b['decisions_per_s']:.2f}×, p50 {b['p50_us'] / a['p50_us']:.2f}×, "
                f"p99 {b['p99_us'] / a['p99_us']:.2f}×, full lifecycle "
                f"{a['lifecycle_per_s'] / b['lifecycle_per_s']:.2f}×"
            )
        naive_lo, naive_hi = results[lo]["naive"]["decisions_per_s"], results[hi]["naive"]["decisions_per_s"]
        print(f"naive matcher slowdown {hi:,} vs {lo:,}: {naive_lo / naive_hi:.1f}×")
    top = results[hi]["l1"]["decisions_per_s"]
    scaled = top * calib / REFERENCE_CALIBRATION_US
    print(
        f"\ntargets: >= 100,000 assignments/s on one core at {hi:,} agents → measured "
        f"{top:,.0f} routing decisions/s here (≈ {scaled:,.0f}/s scaled to a desktop core by the "
        f"calibration); <= 1.5× slower from {lo:,} to {hi:,} agents (see the slowdown lines)"
    )


if __name__ == "__main__":
    main()
