"""Synthetic complaint streams with injected bursts, for tests and ``benchmarks/alerts.py``.

:func:`generate` builds, deterministically from a seed:

* an area tree province / city / district / compound (``n_areas`` compounds, ~40 per district,
  ~6 districts per city, ~8 cities per province), and the category tree :data:`CATEGORY_TREE`
  (网络质量/信号弱, 收费争议/增值业务, 用户服务/服务态度, …);
* background complaints: each compound has a daily rate (log-normal, median ≈ 0.3 a day, capped at
  1; a share ``busy_share`` of compounds is busier, 1.5–8 a day) split over the leaf categories
  (Dirichlet around the tree's weights), modulated by an hour-of-day × day-of-week profile
  (:func:`seasonal_profile`) and over-dispersed by gamma day factors per compound and per day;
* injected bursts (:class:`Burst`, the ground truth) of 5–30 complaints lasting 8 minutes to 4
  hours in one compound, mostly in compounds whose baseline is ≤ 1 a day, placed at times drawn
  from the same daily profile, after the warm-up days; a share ``mixed_share`` of them is one
  fault filed under several leaves of a category root (信号弱, 无法上网 and 通话中断 together),
  the rest a single leaf category.

Times are POSIX seconds; the profile is in the stream's own clock (UTC offset 0). The result's
``events`` is sorted by time, ``background`` is the same stream without the bursts.
:func:`evaluate` scores a detector's alert updates against the injected bursts.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

__all__ = [
    "CATEGORY_TREE",
    "Burst",
    "Evaluation",
    "SyntheticStream",
    "evaluate",
    "generate",
    "seasonal_profile",
]

Path = tuple[str, ...]
Event = tuple[float, Path, Path]

#: Category tree with relative weights of the leaves (roots are the sum of their leaves).
CATEGORY_TREE: dict[str, dict[str, float]] = {
    "网络质量": {"信号弱": 0.20, "无法上网": 0.12, "通话中断": 0.08},
    "收费争议": {"增值业务": 0.14, "套餐资费": 0.12, "重复扣费": 0.06},
    "用户服务": {"服务态度": 0.16, "办理时效": 0.12},
}

_HOUR_OF_DAY = [
    0.25, 0.15, 0.10, 0.10, 0.10, 0.15, 0.35, 0.70, 1.10, 1.60, 1.70, 1.60,
    1.20, 1.20, 1.50, 1.50, 1.40, 1.30, 1.30, 1.50, 1.70, 1.50, 1.00, 0.50,
]  # fmt: skip
_DAY_OF_WEEK = [1.05, 1.0, 1.0, 1.0, 1.05, 0.90, 0.80]  # Monday first

DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC).timestamp()  # a Monday


def seasonal_profile() -> np.ndarray:
    """Hour-of-week multipliers (168, Monday 00:00 first), mean 1."""
    p = np.array([d * h for d in _DAY_OF_WEEK for h in _HOUR_OF_DAY])
    return p / p.mean()


@dataclass(frozen=True, slots=True)
class Burst:
    """One injected burst (ground truth)."""

    area: Path
    category: Path  # a leaf, or the root category for a mixed burst
    times: tuple[float, ...]
    area_rate_per_day: float  # the compound's background rate, all categories
    key_rate_per_day: float  # background rate of (compound, category)
    qualifying: bool  # >= 5 complaints within 30 min in an area with baseline <= 1 a day
    categories: tuple[Path, ...] = ()  # leaf category of each complaint (mixed bursts)

    @property
    def start(self) -> float:
        return self.times[0]

    @property
    def end(self) -> float:
        return self.times[-1]

    @property
    def third(self) -> float:
        """Time of the burst's third complaint (detection delay is measured from it)."""
        return self.times[2]

    @property
    def size(self) -> int:
        return len(self.times)

    @property
    def max_in_30min(self) -> int:
        return _max_in_window(self.times, 1800.0)


@dataclass(slots=True)
class SyntheticStream:
    events: list[Event]
    background: list[Event]
    bursts: list[Burst]
    areas: list[Path]
    categories: list[Path]
    area_rate_per_day: dict[Path, float]
    start: float
    measure_start: float
    end: float
    seed: int
    meta: dict[str, float] = field(default_factory=dict)

    @property
    def n_areas(self) -> int:
        return len(self.areas)

    @property
    def measured_days(self) -> float:
        return (self.end - self.measure_start) / 86400.0

    @property
    def area_days(self) -> float:
        """Compound-days in the measured period (the false-alert denominator)."""
        return self.n_areas * self.measured_days


def _max_in_window(times: tuple[float, ...] | list[float], w: float) -> int:
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - w:
            j += 1
        best = max(best, i - j + 1)
    return best


def _area_tree(n_areas: int) -> list[Path]:
    per_district, per_city, per_province = 40, 6, 8
    n_districts = max(1, math.ceil(n_areas / per_district))
    n_cities = max(1, math.ceil(n_districts / per_city))
    areas: list[Path] = []
    for i in range(n_areas):
        d = i * n_districts // n_areas
        c = d * n_cities // n_districts
        p = c // per_province
        areas.append((f"省{p + 1:02d}", f"市{c + 1:03d}", f"区{d + 1:04d}", f"小区{i + 1:05d}"))
    return areas


def generate(
    n_areas: int = 1000,
    days: float = 60,
    *,
    seed: int = 0,
    warmup_days: float = 28,
    bursts_per_1000_area_days: float = 4.0,
    mixed_share: float = 0.3,
    busy_share: float = 0.1,
    quiet_median_per_day: float = 0.3,
    overdispersion: float = 0.1,
    start: float = DEFAULT_START,
) -> SyntheticStream:
    """Generate a stream of ``warmup_days + days`` days; bursts only in the last ``days``."""
    if n_areas < 1 or days <= 0 or warmup_days < 0:
        raise ValueError("n_areas >= 1, days > 0 and warmup_days >= 0 required")
    rng = np.random.default_rng(seed)
    areas = _area_tree(n_areas)
    leaves: list[Path] = [(r, leaf) for r, sub in CATEGORY_TREE.items() for leaf in sub]
    leaf_w = np.array([w for sub in CATEGORY_TREE.values() for w in sub.values()])
    leaf_w = leaf_w / leaf_w.sum()
    n_leaf = len(leaves)

    # Per-compound daily rates and category shares.
    quiet = np.minimum(rng.lognormal(math.log(quiet_median_per_day), 0.8, n_areas), 1.0)
    busy = rng.random(n_areas) < busy_share
    rates = np.where(busy, rng.uniform(1.5, 8.0, n_areas), quiet)
    shares = rng.dirichlet(leaf_w * 30.0, n_areas)
    cum = np.cumsum(shares, axis=1)
    cum[:, -1] = 1.0

    total_days = warmup_days + days
    n_days = math.ceil(total_days)
    n_hours = round(total_days * 24)
    how0 = int(((start // 3600) + 72) % 168)  # hour of week of the start (epoch: Thursday)
    prof = seasonal_profile()
    hour_prof = prof[(how0 + np.arange(n_hours)) % 168]
    k = 1.0 / overdispersion if overdispersion > 0 else None
    day_global = rng.gamma(50.0, 1.0 / 50.0, n_days)
    area_day = rng.gamma(k, 1.0 / k, (n_areas, n_days)) if k else np.ones((n_areas, n_days))

    comp_idx: list[np.ndarray] = []
    hour_idx: list[np.ndarray] = []
    hour_day = np.arange(n_hours) // 24
    chunk = max(1, 2_000_000 // max(1, n_hours))
    for lo in range(0, n_areas, chunk):
        hi = min(n_areas, lo + chunk)
        lam = (rates[lo:hi, None] / 24.0) * hour_prof[None, :] * area_day[lo:hi][:, hour_day]
        lam *= day_global[hour_day][None, :]
        counts = rng.poisson(lam)
        ci, hi_ = np.nonzero(counts)
        reps = counts[ci, hi_]
        comp_idx.append(np.repeat(ci + lo, reps))
        hour_idx.append(np.repeat(hi_, reps))
    ev_c = np.concatenate(comp_idx) if comp_idx else np.zeros(0, dtype=int)
    ev_h = np.concatenate(hour_idx) if hour_idx else np.zeros(0, dtype=int)
    ev_t = start + (ev_h + rng.random(ev_c.size)) * 3600.0
    u = rng.random(ev_c.size)
    ev_k = (u[:, None] > cum[ev_c]).sum(axis=1)
    ev_k = np.minimum(ev_k, n_leaf - 1)

    # Bursts.
    measure_start = start + warmup_days * 86400.0
    end = start + total_days * 86400.0
    n_bursts = round(bursts_per_1000_area_days * n_areas * days / 1000.0)
    quiet_idx = np.flatnonzero(rates <= 1.0)
    busy_idx = np.flatnonzero(rates > 1.0)
    net_leaves = [i for i, c in enumerate(leaves) if c[0] == "网络质量"]
    pmax = float(prof.max())
    bursts: list[Burst] = []
    last_burst: dict[int, float] = {}
    attempts = 0
    while len(bursts) < n_bursts and attempts < 20 * n_bursts + 100:
        attempts += 1
        pool = busy_idx if (busy_idx.size and rng.random() < 0.15) or not quiet_idx.size else quiet_idx
        ci = int(pool[rng.integers(pool.size)])
        leaf = int(rng.choice(net_leaves)) if rng.random() < 0.7 else int(rng.integers(n_leaf))
        mixed = rng.random() < mixed_share
        r = rng.random()
        size = int(rng.integers(5, 9) if r < 0.5 else rng.integers(9, 16) if r < 0.8 else rng.integers(16, 31))
        r = rng.random()
        dur = 60.0 * (rng.uniform(8, 30) if r < 0.4 else rng.uniform(30, 90) if r < 0.7 else rng.uniform(90, 240))
        # Start: uniform over the measured period, thinned by the seasonal profile.
        t0 = float(rng.uniform(measure_start, end - dur - 3600.0))
        if rng.random() * pmax > prof[int(((t0 // 3600) + 72) % 168)]:
            continue
        if ci in last_burst and abs(last_burst[ci] - t0) < 2 * 86400.0:
            continue
        last_burst[ci] = t0
        offs = np.sort(rng.uniform(0.0, dur, size - 1))
        times = (t0, *(float(t0 + o) for o in offs))
        area_rate = float(rates[ci])
        if mixed:  # one fault, complaints spread over the leaves of its root category
            root = leaves[leaf][0]
            sibs = [i for i, c in enumerate(leaves) if c[0] == root]
            w = shares[ci, sibs] / shares[ci, sibs].sum()
            cats = tuple(leaves[int(i)] for i in rng.choice(sibs, size=size, p=w))
            category: Path = (root,)
            key_rate = float(rates[ci] * shares[ci, sibs].sum())
        else:
            cats = (leaves[leaf],) * size
            category = leaves[leaf]
            key_rate = float(rates[ci] * shares[ci, leaf])
        qualifying = _max_in_window(times, 1800.0) >= 5 and area_rate <= 1.0
        bursts.append(Burst(areas[ci], category, times, area_rate, key_rate, qualifying, cats))
    bursts.sort(key=lambda b: b.start)

    order = np.argsort(ev_t, kind="stable")
    ts_l, c_l, k_l = ev_t[order].tolist(), ev_c[order].tolist(), ev_k[order].tolist()
    background: list[Event] = [(t, areas[c], leaves[k]) for t, c, k in zip(ts_l, c_l, k_l, strict=True)]
    burst_events: list[Event] = [(t, b.area, c) for b in bursts for t, c in zip(b.times, b.categories, strict=True)]
    events = sorted(background + burst_events, key=lambda e: e[0])
    return SyntheticStream(
        events=events,
        background=background,
        bursts=bursts,
        areas=areas,
        categories=leaves,
        area_rate_per_day={a: float(r) for a, r in zip(areas, rates, strict=True)},
        start=start,
        measure_start=measure_start,
        end=end,
        seed=seed,
        meta={"n_busy": float(busy.sum()), "mean_rate_per_day": float(rates.mean())},
    )


# ----------------------------------------------------------------------------- evaluation


@dataclass(slots=True)
class Evaluation:
    """Detection quality of a run over a :class:`SyntheticStream`."""

    qualifying: int  # bursts with >= 5 complaints in 30 min in an area with baseline <= 1 a day
    detected_in_time: int  # qualifying bursts detected within ``delay_limit`` of their 3rd complaint
    detected_any: int  # qualifying bursts detected at all (up to ``match_after`` after their end)
    delays: list[float]  # detection time - 3rd complaint, for detected qualifying bursts (seconds)
    alerts: int  # new alerts in the measured period
    false_alerts: int  # new alerts in the measured period that match no injected burst
    area_days: float

    @property
    def recall(self) -> float:
        return self.detected_in_time / self.qualifying if self.qualifying else float("nan")

    @property
    def false_per_1000_area_days(self) -> float:
        return 1000.0 * self.false_alerts / self.area_days if self.area_days else float("nan")

    def delay_quantile(self, q: float) -> float:
        if not self.delays:
            return float("nan")
        d = sorted(self.delays)
        return d[min(len(d) - 1, max(0, math.ceil(q * len(d)) - 1))]


def _under(prefix: Path, path: Path) -> bool:
    return len(prefix) <= len(path) and path[: len(prefix)] == prefix


def evaluate(
    stream: SyntheticStream,
    updates: list,
    *,
    delay_limit: float = 900.0,
    match_before: float = 3600.0,
    match_after: float = 7200.0,
) -> Evaluation:
    """Match alert updates (``AlertUpdate``-like) against the injected bursts.

    An update is related to a burst when its area is the burst's compound or an ancestor and
    its category lies on the burst category's path (an ancestor, itself, or — for a mixed burst
    filed under its root category — one of the leaves). A burst is detected at the first related
    update (a new alert's ``detected_at`` or a growth's ``last_seen``) between its start and
    ``match_after`` after its end. A new alert in
    the measured period is false when no burst is related to it within ``match_before`` before a
    burst's start to ``match_after`` after its end.
    """
    bursts = stream.bursts
    starts = [b.start for b in bursts]
    det: dict[int, float] = {}
    alerts = false = 0
    longest = max((b.end - b.start for b in bursts), default=0.0)
    for u in updates:
        tu = u.detected_at if u.kind == "new" else u.last_seen
        lo = bisect.bisect_left(starts, tu - longest - match_after)
        hi = bisect.bisect_right(starts, tu + match_before)
        matched = False
        for i in range(lo, hi):
            b = bursts[i]
            if not (_under(u.area, b.area) and (_under(u.category, b.category) or _under(b.category, u.category))):
                continue
            if b.start <= tu <= b.end + match_after and (i not in det or tu < det[i]):
                det[i] = tu
            if b.start - match_before <= tu <= b.end + match_after:
                matched = True
        if u.kind == "new" and u.detected_at >= stream.measure_start:
            alerts += 1
            false += not matched
    qual = [i for i, b in enumerate(bursts) if b.qualifying]
    delays = [det[i] - bursts[i].third for i in qual if i in det]
    return Evaluation(
        qualifying=len(qual),
        detected_in_time=sum(1 for i in qual if i in det and det[i] - bursts[i].third <= delay_limit),
        detected_any=sum(1 for i in qual if i in det),
        delays=delays,
        alerts=alerts,
        false_alerts=false,
        area_days=stream.area_days,
    )
