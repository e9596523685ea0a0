"""Streaming complaint early-warning detector (预警): area × category clusters of complaints.

Pure and in-memory: no I/O, no database, no clock. One :class:`Detector` per tenant; its
:class:`DetectorConfig` holds the tenant's thresholds.

API
---
``DetectorConfig``
    Frozen per-tenant settings, times in seconds: ``threshold`` (score needed to fire, see
    *Statistics*; default 5.0), ``windows`` (scan windows, default 15/30/60/180 min of
    operational time), ``min_count`` (never fire on fewer complaints in a window, default 3),
    ``cooldown`` (an alert stays open, absorbing related complaints, until this long after its
    last complaint; only then can the cell or a relative fire again; default 6 h),
    ``grow_threshold`` (window score at which a complaint in the alert's cell joins it),
    ``half_life_days`` (baseline forgetting), ``prior_events`` / ``root_prior_events`` /
    ``default_daily_rate`` (prior for thin history), ``overdispersion``,
    ``warmup`` (no alerts until the stream has run this long), ``utc_offset`` (tenant local
    time, for the weekly profile), ``bucket_seconds`` / ``period_buckets`` / ``pool_buckets``
    (profile layout: hour of week, pooled to hour of day while data are thin),
    ``smoothing``, ``shape_prior_events``, ``min_speed``, ``gate_margin``.
    :meth:`DetectorConfig.daily` gives settings for date-only data. ``to_dict()`` / ``from_dict()``.
``Detector(config)``
    ``observe(ts, area, category) -> Sequence[AlertUpdate]`` feeds one complaint (``ts`` POSIX
    seconds; ``area``/``category`` paths such as ``("省", "市", "区", "小区")`` and
    ``("网络质量", "信号弱")``, or strings split on ``/`` and ``>``) and returns the alerts it
    opened or grew — usually none, as an empty tuple. ``observe_many(events)`` feeds an iterable
    of ``(ts, area, category)`` and returns all updates (same result, less per-call overhead).
    ``fit_baseline(events)`` learns from history without alerting; ``learn(events)`` does the same on
    a detector that is already running (complaints read too late to alert on).
    ``expected(area, category, window, at=None)`` is the expected count in a real-time window.
    ``open_alerts()``, ``close_expired(now)``, ``events_seen``. ``snapshot()`` returns a
    JSON-serialisable dict; ``Detector.restore(snapshot)`` rebuilds a detector whose subsequent
    output is identical. Bad input raises ``ValueError`` (an empty area, a non-finite time).
``AlertUpdate``
    ``alert_id``; ``kind``: ``"new"`` when the alert first fires, ``"grow"`` when it absorbs a
    further complaint or widens (``"open"`` from :meth:`Detector.open_alerts`); ``area``,
    ``category``: the cell (paths); ``start``: first complaint of the cluster; ``detected_at``:
    the complaint at which it fired; ``last_seen``; ``count``: complaints in the cluster;
    ``expected``: expected count over the same span; ``score``; ``window``: the scan window that
    fired (seconds); ``folded``: other surprising cells folded into the alert, as
    ``(area, category, score)``.

Cells and de-duplication
------------------------
A complaint in compound X of district D of city C, category 网络质量/信号弱, counts toward every
(area prefix × category prefix) cell — (X, 信号弱), (X, 网络质量), (D, 信号弱), … 8 cells for a
4-level area and a 2-level category. One cluster gives one alert:

* When several cells are surprising at one complaint, the alert goes to the most specific
  (deepest area, then deepest category); the others are *folded* into it (``folded``).
* While an alert is open, a surprising cell that overlaps its cell (areas on one path and
  categories on one path: ancestors, descendants, and mixes such as (D, 信号弱) vs
  (X, 网络质量)) does not raise a second alert; it is folded in.
* Ancestors of an open alert's cell are tested on *residual* counts, without the complaints of
  the open alerts below them. If an ancestor is still surprising — complaints from sibling
  compounds (a district-wide fault) or sibling categories (one outage filed as 信号弱 and
  无法上网) — the alert *widens* to that ancestor, keeping its id (a ``"grow"`` update with the
  wider area or category).
* Complaints in the alert's cell grow it while the cell's window counts stay at the
  ``grow_threshold`` level; each growth is a ``"grow"`` update with the new count.
* An alert closes ``cooldown`` (operational time, see below) after its last complaint: the
  cool-down before the same cell or a relative can raise a new alert. On close the alert's
  excess (count − expected) is taken out of the baselines, so one fault does not blunt the
  detection of its recurrence.

Statistics
----------
*Baseline.* A cell's expected rate in profile bucket h (hour of week) is ``R × S(h)``: a cell
level ``R`` times a seasonal shape ``S`` shared by all cells under the same top-level category,
both learned online from exponentially decayed counts (``half_life_days``), so a replay needs
no separate history.

* ``S``: hour-of-week rate of the category root, shrunk toward the tenant's hour-of-week profile,
  itself shrunk toward the pooled hour-of-day profile (one day of data gives a daily shape; the
  weekly pattern fills in over weeks), ``shape_prior_events`` pseudo-complaints per step, then a
  [¼, ½, ¼] circular smoothing over neighbouring hours. Refreshed daily for the first two weeks
  of data, weekly after that. Compound-level cells have far too few complaints for 168 buckets;
  they borrow the shape and estimate only a level.
* ``R``: gamma–Poisson posterior mean ``(N + a0) / (E + a0/prior)``, ``N`` the decayed count,
  ``E`` the decayed shape-weighted exposure, ``prior`` the parent area's rate divided by its
  number of known children (a new compound is expected to look like an average sibling),
  ``a0 = prior_events`` (top-level cells: ``default_daily_rate`` with ``root_prior_events``).
  Complaints enter ``N`` only after leaving the longest window: a burst does not raise its own
  expectation.

*Operational time.* Windows are measured on a clock that runs at speed ``max(S(h), min_speed)``,
so an operational hour carries an average hour's complaints: 15 operational minutes are ~9 real
minutes at the evening peak and ~1 h at night. Under the baseline every window of length w then
has the same expectation ``R·w``, so each cell's critical counts stay valid all day and the hot
path needs no per-hour work. (At night, when S < ``min_speed``, the expectation is overstated,
erring toward fewer alarms.)

*Surprise.* The count in each window is compared with a negative binomial of mean ``λ = R·w``
and size ``1 / (1/α + overdispersion)``, α the gamma posterior shape: the NB tail accounts for
the uncertainty of thin baselines (a compound with a few weeks of history is not trusted like a
busy district) and for day-to-day over-dispersion; it is the exact predictive distribution of
the gamma–Poisson model. Score = ``-log10(min_w p_w · n_w)`` (Bonferroni over the ``n_w``
windows). The scan is prospective — evaluated at every arrival, cluster windows ending now, as in
a prospective space-time scan restricted to the area tree — so the per-test p is not the
false-alarm rate (a cell is in effect tested about k·day/w times a day). The default
``threshold`` is therefore calibrated on the synthetic benchmark (``benchmarks/alerts.py``) for
≤ 1 false alert per 1,000 area-days; with it a burst in a compound whose baseline is ≤ 1
complaint a day fires at its 3rd complaint when they come close together and by its 4th
otherwise. ``min_count`` keeps 1–2 complaints from ever firing.

Hot path
--------
``observe`` is O(cells per complaint) with no scan over keys: a dict lookup for the complaint's
cells, then per cell an append of the operational time to a list and one of two cheap tests.
A cell far from every critical count carries a *skip* count — complaints that cannot bring any
window to its critical count (counts only grow by one per complaint) — and just decrements it.
Otherwise it checks whether its *gate* (the smallest critical count) is reached inside the
longest window, by comparing the gate-th latest time with the window start. Only then does it
trim its list, count each window by bisection, and — if a window is at its critical count —
compute the exact NB tail (scipy's regularised incomplete beta). Critical counts come from a
memo on a conservative grid (mean rounded down, size up) at ``gate_margin`` of the current rate
and are refreshed after a tenth of the cell's exposure (1 h to 3 days), so they are lower
bounds: the pre-filter never hides a significant window. Complaints should arrive in time
order; a late one is taken as arriving at the latest time seen.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

import numpy as np

from kefu.alerts.rules import critical_counts, nb_size, split_path, tail_score

__all__ = ["AlertUpdate", "Detector", "DetectorConfig"]

Path = tuple[str, ...]
Event = tuple[float, Path | str, Path | str]

_NEVER = 1e300
_LN2 = math.log(2.0)


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Per-tenant detector settings (times in seconds). See the module docstring."""

    threshold: float = 5.0
    windows: tuple[float, ...] = (900.0, 1800.0, 3600.0, 10800.0)
    min_count: int = 3
    cooldown: float = 6 * 3600.0
    grow_threshold: float = 2.0
    half_life_days: float = 28.0
    prior_events: float = 2.0
    root_prior_events: float = 0.2
    default_daily_rate: float = 0.5
    overdispersion: float = 0.1
    warmup: float = 86400.0
    utc_offset: float = 0.0
    bucket_seconds: float = 3600.0
    period_buckets: int = 168
    pool_buckets: int = 24
    smoothing: float = 0.25
    shape_prior_events: float = 10.0
    min_speed: float = 0.25
    gate_margin: float = 0.9

    def __post_init__(self) -> None:
        w = tuple(float(x) for x in self.windows)
        object.__setattr__(self, "windows", w)
        if not w or any(x <= 0 for x in w) or list(w) != sorted(set(w)):
            raise ValueError("windows must be positive, distinct and increasing")
        if self.min_count < 1:
            raise ValueError("min_count must be >= 1")
        if self.cooldown < w[-1]:
            raise ValueError("cooldown must be at least the longest window")
        if self.period_buckets < 1 or self.pool_buckets < 1 or self.period_buckets % self.pool_buckets:
            raise ValueError("period_buckets must be a positive multiple of pool_buckets")
        if self.half_life_days <= 0 or self.bucket_seconds <= 0:
            raise ValueError("half_life_days and bucket_seconds must be positive")
        if self.prior_events <= 0 or self.root_prior_events <= 0 or self.default_daily_rate <= 0:
            raise ValueError("prior_events, root_prior_events and default_daily_rate must be positive")
        if not 0.0 <= self.smoothing < 0.5 or not 0.0 < self.gate_margin <= 1.0:
            raise ValueError("smoothing must be in [0, 0.5) and gate_margin in (0, 1]")
        if not 0.0 < self.min_speed <= 1.0 or self.overdispersion < 0:
            raise ValueError("min_speed must be in (0, 1] and overdispersion >= 0")

    @classmethod
    def daily(cls, **overrides: Any) -> DetectorConfig:
        """Settings for date-only data: day buckets, day-of-week profile, 1/3/7-day windows."""
        base: dict[str, Any] = {
            "windows": (86400.0, 3 * 86400.0, 7 * 86400.0),
            "cooldown": 7 * 86400.0,
            "bucket_seconds": 86400.0,
            "period_buckets": 7,
            "pool_buckets": 1,
            "smoothing": 0.0,
            "warmup": 14 * 86400.0,
            "min_speed": 0.5,
        }
        base.update(overrides)
        return cls(**base)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["windows"] = list(self.windows)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorConfig:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in data.items() if k in known}
        if "windows" in kw:
            kw["windows"] = tuple(kw["windows"])
        return cls(**kw)


class AlertUpdate(NamedTuple):
    """An alert firing (``kind="new"``) or absorbing one more complaint (``kind="grow"``).

    Immutable (a named tuple: cheap to create on the hot path, compares by value).
    """

    alert_id: str
    kind: str
    area: Path
    category: Path
    start: float
    detected_at: float
    last_seen: float
    count: int
    expected: float
    score: float
    window: float
    folded: tuple[tuple[Path, Path, float], ...] = ()


_EMPTY: tuple[AlertUpdate, ...] = ()


class _Cell:
    __slots__ = (
        "R",
        "ad",
        "alert",
        "alpha",
        "area",
        "below",
        "cat",
        "cd",
        "gate",
        "h",
        "kR",
        "kw",
        "lim",
        "nka",
        "nkc",
        "ns",
        "parent",
        "pkind",
        "rb",
        "shape",
        "skip",
        "ts",
        "until",
    )

    def __init__(self, area: Path, cat: Path, shape: int, mc: int) -> None:
        self.area = area
        self.cat = cat
        self.ad = len(area)
        self.cd = len(cat)
        self.shape = shape
        self.ts: list[float] = []  # operational times; ts[h:] may still be in a window
        self.h = 0
        self.ns = 0.0  # decayed count of complaints that left the longest window (scaled by W)
        self.gate = mc  # smallest critical count over the windows
        self.skip = 1  # complaints until one could reach a critical count (1: look at the next)
        self.lim = 16  # list length at which stale entries are trimmed anyway
        self.until = 0.0  # real time until which gate / kw are valid
        self.kw: tuple[tuple[int, float], ...] = ()  # (critical count, window) pairs
        self.kR = 0.0  # the rate kw was computed for
        self.rb = -1  # bucket for which R / alpha are cached
        self.R = 0.0
        self.alpha = 0.0
        self.parent: _Cell | None = None
        self.pkind = 0  # 1: area parent, 2: category parent
        self.nka = 0  # known area children
        self.nkc = 0  # known category children
        self.alert: _Alert | None = None
        self.below: list[_Alert] = []  # open alerts on this cell or its descendants


class _Alert:
    __slots__ = (
        "cell",
        "count",
        "detected_at",
        "expected",
        "folded",
        "ft",
        "gk",
        "id",
        "last_n",
        "last_seen",
        "last_tau",
        "own",
        "rate",
        "reg",
        "score",
        "size",
        "start",
        "window",
    )

    def __init__(self) -> None:
        self.reg: list[_Cell] = []
        self.folded: dict[tuple[Path, Path], float] = {}
        self.ft: tuple[tuple[Path, Path, float], ...] | None = None  # folded as a tuple (cache)


class Detector:
    """Streaming detector for one tenant. See the module docstring."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = cfg = config or DetectorConfig()
        self._windows = cfg.windows
        self._logw = tuple(math.log(w) for w in cfg.windows)
        self._maxw = cfg.windows[-1]
        self._mc = cfg.min_count
        self._lognw = math.log10(len(cfg.windows))
        self._thr = cfg.threshold
        self._tau_decay = cfg.half_life_days * 86400.0 / _LN2
        self._bs = cfg.bucket_seconds
        self._P = cfg.period_buckets
        self._default = cfg.default_daily_rate * cfg.bucket_seconds / 86400.0
        self._valid = max(1, round(86400.0 / cfg.bucket_seconds))
        self._shift = round(3 * 86400.0 / cfg.bucket_seconds) % self._P  # the epoch was a Thursday
        self._hist_len = math.ceil(self._maxw / (cfg.bucket_seconds * cfg.min_speed)) + 3

        self._cells: dict[tuple[Path, Path], _Cell] = {}
        self._chains: dict[Any, tuple[int, tuple[_Cell, ...]]] = {}
        self._roots: dict[str, int] = {}  # category root -> shape index (0: tenant profile)
        self._alerts: dict[str, _Alert] = {}
        self._cross: list[tuple[_Cell, tuple[float, int, int, float]]] = []
        self._upd: list[AlertUpdate] = []

        self._t0: float | None = None
        self._last_t = -_NEVER
        self._bucket = 0
        self._bstart = -_NEVER
        self._bucket_end = -_NEVER
        self._how = 0
        self._ref = 0.0
        self._W = 1.0
        self._n = 0
        self._seq = 0
        self._armed_at = _NEVER
        self._learning = False
        self._shape_bucket = 0

        P = self._P
        self._E = [0.0] * P  # scaled exposure per profile bucket
        self._hw: list[list[float]] = [[0.0] * P]  # scaled counts per shape and profile bucket
        self._hc: list[int] = [0]  # counts in the current bucket per shape
        self._shapes: list[list[float]] = [[1.0] * P]
        self._eeff: list[float] = [0.0]  # scaled shape-weighted exposure per shape
        self._tau0: list[float] = [0.0]  # operational time at the current bucket start, per shape
        self._v: list[float] = [1.0]  # operational clock speed in the current bucket, per shape
        self._hist: list[deque[tuple[float, float, float]]] = [deque(maxlen=self._hist_len)]

    # ------------------------------------------------------------------ public API

    def observe(self, ts: float, area: Path | str, category: Path | str) -> Sequence[AlertUpdate]:
        """Feed one complaint; return the alerts it opened or grew (usually an empty tuple)."""
        chain = self._chains.get((area, category))
        if chain is None:
            chain = self._new_chain(area, category)
        t = float(ts)
        if t < self._last_t:
            t = self._last_t  # late: taken as arriving now
        elif t < 1e15:
            self._last_t = t
        else:
            raise ValueError(f"complaint time must be finite POSIX seconds, not {ts!r}")
        if t >= self._bucket_end:
            self._roll(t)
        self._n += 1
        r = chain[0]
        self._hc[r] += 1
        tau = self._tau0[r] + (t - self._bstart) * self._v[r]
        cut = tau - self._maxw
        cells = chain[1]
        for c in cells:
            q = c.ts
            q.append(tau)
            k = c.skip
            if k > 1:
                c.skip = k - 1  # this complaint cannot bring any window to its critical count
            else:
                # Look closer only with >= gate complaints in the longest window (or to tidy up).
                g = c.gate
                m = len(q)
                if m >= g and (q[-g] > cut or m >= c.lim):
                    self._slow(c, t, tau, cells)
        if self._cross:
            self._resolve(cells, t, tau)
        if self._upd:
            out = self._upd
            self._upd = []
            return out
        return _EMPTY

    def observe_many(self, events: Iterable[Event]) -> list[AlertUpdate]:
        """Feed complaints ``(ts, area, category)`` in time order; return every update, in order.

        Exactly :meth:`observe` for each complaint, with the per-call overhead taken out of the
        loop (the batch entry point for a consumer that drains a queue). Keep the two in step.
        """
        out: list[AlertUpdate] = []
        get = self._chains.get
        maxw = self._maxw
        for ts, area, category in events:
            chain = get((area, category))
            if chain is None:
                chain = self._new_chain(area, category)
            t = float(ts)
            if t < self._last_t:
                t = self._last_t
            elif t < 1e15:
                self._last_t = t
            else:
                raise ValueError(f"complaint time must be finite POSIX seconds, not {ts!r}")
            if t >= self._bucket_end:
                self._roll(t)
            self._n += 1
            r = chain[0]
            self._hc[r] += 1
            tau = self._tau0[r] + (t - self._bstart) * self._v[r]
            cut = tau - maxw
            cells = chain[1]
            for c in cells:
                q = c.ts
                q.append(tau)
                k = c.skip
                if k > 1:
                    c.skip = k - 1
                else:
                    g = c.gate
                    m = len(q)
                    if m >= g and (q[-g] > cut or m >= c.lim):
                        self._slow(c, t, tau, cells)
            if self._cross:
                self._resolve(cells, t, tau)
            if self._upd:
                out.extend(self._upd)
                self._upd = []
        return out

    def fit_baseline(self, events: Iterable[Event]) -> int:
        """Learn the baseline from historical complaints (time order) without raising alerts.

        The stream may go on with :meth:`observe`; the warm-up counts from the first complaint
        ever seen. Returns the number of complaints read.
        """
        self._learning = True
        n0 = self._n
        try:
            for t, a, k in events:
                self.observe(t, a, k)
        finally:
            self._learning = False
            self._armed_at = (self._t0 + self.config.warmup) if self._t0 is not None else _NEVER
        return self._n - n0

    def learn(self, events: Iterable[Event]) -> int:
        """:meth:`fit_baseline` for a detector that may already be alerting: these complaints (too old to
        alert on, e.g. read after a long outage) teach the baseline and raise no alert; the warm-up is not
        restarted (it still counts from the first complaint ever seen). Returns the number read."""
        self._armed_at = _NEVER
        return self.fit_baseline(events)

    def expected(self, area: Path | str, category: Path | str, window: float, at: float | None = None) -> float:
        """Expected complaints in a real-time window of ``window`` seconds at ``at``.

        Uses the current baseline and the profile bucket of ``at`` (default: the latest
        complaint). Unknown cells get the prior they would start with. Read-only.
        """
        a, k = self._norm(area, category)
        if self._t0 is None:
            return self._default * window / self._bs
        t = self._last_t if at is None else float(at)
        how = (math.floor((t + self.config.utc_offset) / self._bs) + self._shift) % self._P
        cell = self._cells.get((a, k))
        if cell is None:
            rate, shape = self._prior_for(a, k)
        else:
            rate, shape = self._rate_ro(cell)[0], cell.shape
        return rate * self._shapes[shape][how] * window / self._bs

    def open_alerts(self) -> list[AlertUpdate]:
        """The currently open alerts, as ``kind="open"`` updates."""
        return [self._update(a, "open") for a in self._alerts.values()]

    def close_expired(self, now: float) -> int:
        """Close alerts whose cool-down has run out at ``now``; returns how many were closed."""
        expired = [a for a in self._alerts.values() if self._expired(a, now)]
        for a in expired:
            self._close(a)
        return len(expired)

    @property
    def events_seen(self) -> int:
        return self._n

    # ------------------------------------------------------------------ keys and cells

    def _norm(self, area: Path | str, category: Path | str) -> tuple[Path, Path]:
        a = split_path(area)
        k = split_path(category)
        if not a:
            raise ValueError("empty area")
        return a, (k or ("(none)",))

    def _root_index(self, root: str) -> int:
        idx = self._roots.get(root)
        if idx is None:
            idx = len(self._hw)
            self._roots[root] = idx
            self._hw.append([0.0] * self._P)
            self._hc.append(0)
            self._shapes.append(list(self._shapes[0]))
            self._eeff.append(self._eeff[0])
            self._tau0.append(self._tau0[0])
            self._v.append(self._v[0])
            self._hist.append(deque(self._hist[0], maxlen=self._hist_len))
        return idx

    def _cell(self, area: Path, cat: Path) -> _Cell:
        c = self._cells.get((area, cat))
        if c is not None:
            return c
        c = _Cell(area, cat, self._root_index(cat[0]), self._mc)
        if len(area) > 1:
            p = self._cell(area[:-1], cat)
            c.parent, c.pkind = p, 1
            p.nka += 1
        elif len(cat) > 1:
            p = self._cell(area, cat[:-1])
            c.parent, c.pkind = p, 2
            p.nkc += 1
        self._cells[(area, cat)] = c
        return c

    def _new_chain(self, area: Path | str, category: Path | str) -> tuple[int, tuple[_Cell, ...]]:
        a, k = self._norm(area, category)
        cells = self._cells
        cell = self._cell
        # General to specific, so that a new cell's parent always exists already.
        out = []
        for i in range(1, len(a) + 1):
            ai = a[:i]
            for j in range(1, len(k) + 1):
                key = (ai, k[:j])
                c = cells.get(key)
                out.append(c if c is not None else cell(ai, key[1]))
        out.reverse()  # most specific first
        chain = (self._root_index(k[0]), tuple(out))
        self._chains[(area, category)] = chain
        return chain

    # ------------------------------------------------------------------ time and profile

    def _roll(self, t: float) -> None:
        bs = self._bs
        off = self.config.utc_offset
        b_new = math.floor((t + off) / bs)
        P = self._P
        n_shapes = len(self._hw)
        if self._t0 is None:
            self._t0 = t
            self._armed_at = _NEVER if self._learning else t + self.config.warmup
            self._ref = b_new * bs - off
            self._W = 1.0
            self._shape_bucket = b_new
        else:
            tau_decay = self._tau_decay
            b = self._bucket
            E, hw, hc, eeff, shapes = self._E, self._hw, self._hc, self._eeff, self._shapes
            tau0, v = self._tau0, self._v
            # Close the finished bucket, then account for the empty ones skipped over.
            while b < b_new:
                W = math.exp((b * bs - off - self._ref) / tau_decay)
                h = (b + self._shift) % P
                E[h] += W
                for s in range(n_shapes):
                    if hc[s]:
                        hw[s][h] += hc[s] * W
                        hc[s] = 0
                    eeff[s] += W * shapes[s][h]
                    tau0[s] += bs * v[s]
                    v[s] = max(shapes[s][(h + 1) % P], self.config.min_speed)
                b += 1
            self._W = math.exp((b_new * bs - off - self._ref) / tau_decay)
            if self._W > 1e100:
                self._rebase(b_new * bs - off)
            # Seasonal shapes: daily for the first two weeks of data, then weekly.
            young = (b_new * bs - off) - self._t0 < 14 * 86400.0
            if b_new - self._shape_bucket >= (self._valid if young else 7 * self._valid):
                self._shape_bucket = b_new
                self._refresh_shapes()
        self._bucket = b_new
        self._bstart = b_new * bs - off
        self._bucket_end = self._bstart + bs
        self._how = h = (b_new + self._shift) % P
        for s in range(n_shapes):
            self._v[s] = max(self._shapes[s][h], self.config.min_speed)
            self._hist[s].append((self._bstart, self._tau0[s], self._v[s]))
        if self._alerts:
            self.close_expired(t)

    def _rebase(self, new_ref: float) -> None:
        f = 1.0 / self._W
        self._E = [x * f for x in self._E]
        self._hw = [[x * f for x in row] for row in self._hw]
        self._eeff = [x * f for x in self._eeff]
        for c in self._cells.values():
            c.ns *= f
        self._ref = new_ref
        self._W = 1.0

    def _refresh_shapes(self) -> None:
        cfg = self.config
        P, pool = self._P, cfg.pool_buckets
        W = self._W
        E = np.asarray(self._E) / W
        C = np.asarray(self._hw, dtype=float) / W
        tot = C.sum(axis=0)
        e_sum = float(E.sum())
        K = cfg.shape_prior_events
        n_shapes = len(self._hw)
        if e_sum <= 0 or tot.sum() <= 0:
            shapes = [np.ones(P) for _ in range(n_shapes)]
        else:
            rbar = float(tot.sum()) / e_sum

            def smooth(x: np.ndarray) -> np.ndarray:
                sm = cfg.smoothing
                y = (1 - 2 * sm) * x + sm * (np.roll(x, 1) + np.roll(x, -1)) if sm > 0 else x
                return y / y.mean()

            if pool > 1:
                n_rep = P // pool
                cp = tot.reshape(n_rep, pool).sum(axis=0)
                ep = E.reshape(n_rep, pool).sum(axis=0)
                b = K / rbar
                prior = np.tile((cp + b * rbar) / (ep + b), n_rep)
            else:
                prior = np.full(P, rbar)
            b2 = K / rbar
            s_all = smooth((tot + b2 * prior) / (E + b2))
            shapes = [s_all]
            for s in range(1, n_shapes):
                r_s = float(C[s].sum()) / e_sum
                if r_s <= 0:
                    shapes.append(s_all)
                    continue
                b_s = K / r_s
                shapes.append(smooth((C[s] + b_s * r_s * s_all) / (E + b_s)))
        self._shapes = [s.tolist() for s in shapes]
        E_scaled = np.asarray(self._E)
        self._eeff = [float((E_scaled * s).sum()) for s in shapes]

    def _op_to_real(self, shape: int, tau: float) -> float:
        """Invert the operational clock of ``shape`` (recent times only)."""
        hist = self._hist[shape]
        for t_start, tau_start, v in reversed(hist):
            if tau >= tau_start:
                return t_start + (tau - tau_start) / v
        t_start, tau_start, v = hist[0]
        return t_start + (tau - tau_start) / v

    def _op_now(self, shape: int, t: float) -> float:
        return self._tau0[shape] + (t - self._bstart) * self._v[shape]

    # ------------------------------------------------------------------ rates

    def _count(self, c: _Cell) -> float:
        """Decayed count of the cell's complaints that have left the longest window."""
        q = c.ts
        stale = bisect_right(q, self._op_now(c.shape, self._last_t) - self._maxw, c.h) - c.h
        return c.ns / self._W + stale

    def _rate(self, c: _Cell) -> float:
        """Cell level R (complaints per bucket at shape 1), cached per bucket; sets c.alpha."""
        if c.rb == self._bucket:
            return c.R
        p = c.parent
        if p is not None:
            prior = self._rate(p) / max(1, p.nka if c.pkind == 1 else p.nkc)
            a0 = self.config.prior_events
        else:
            prior = self._default
            a0 = self.config.root_prior_events
        W = self._W
        alpha = self._count(c) + a0
        R = alpha / (self._eeff[c.shape] / W + a0 / max(prior, 1e-12))
        c.rb = self._bucket
        c.R = R
        c.alpha = alpha
        return R

    def _rate_ro(self, c: _Cell) -> tuple[float, float]:
        """:meth:`_rate` without touching caches: (R, alpha)."""
        p = c.parent
        if p is not None:
            prior = self._rate_ro(p)[0] / max(1, p.nka if c.pkind == 1 else p.nkc)
            a0 = self.config.prior_events
        else:
            prior = self._default
            a0 = self.config.root_prior_events
        W = self._W
        alpha = self._count(c) + a0
        return alpha / (self._eeff[c.shape] / W + a0 / max(prior, 1e-12)), alpha

    def _prior_for(self, area: Path, cat: Path) -> tuple[float, int]:
        """(rate, shape) an unseen cell would start with."""
        shape = self._roots.get(cat[0], 0)
        if len(area) > 1:
            p = self._cells.get((area[:-1], cat))
            if p is not None:
                return self._rate_ro(p)[0] / (p.nka + 1), shape
            return self._prior_for(area[:-1], cat)[0], shape
        if len(cat) > 1:
            p = self._cells.get((area, cat[:-1]))
            if p is not None:
                return self._rate_ro(p)[0] / (p.nkc + 1), shape
        return self._default, shape

    # ------------------------------------------------------------------ evaluation

    def _refresh(self, c: _Cell, t: float) -> None:
        """Recompute the cell's critical counts (a conservative lower bound, see module doc).

        Valid while the baseline cannot have drifted by more than ``gate_margin`` allows: R
        falls at most like exposure grows, so for a tenth of the exposure, 1 hour to 3 days.
        """
        R = self._rate(c)
        exposure = self._eeff[c.shape] / self._W * self._bs
        c.until = t + min(3 * 86400.0, max(3600.0, 0.1 * exposure))
        if c.kw and c.kR <= R <= 1.02 * c.kR:
            return  # the critical counts computed at rate kR are still conservative
        c.kR = R
        size = nb_size(c.alpha, self.config.overdispersion)
        crit = critical_counts(
            R * self.config.gate_margin / self._bs, size, self._thr + self._lognw, self._mc, self._logw
        )
        c.kw = tuple(zip(crit, self._windows, strict=True))
        c.gate = min(crit)

    def _counts(self, c: _Cell, tau: float, residual: bool) -> list[int]:
        """Complaints in each window; ``residual``: minus those of open alerts below the cell."""
        q = c.ts
        m = len(q)
        h = c.h
        below = c.below if residual else ()
        out = []
        for w in self._windows:
            lo = tau - w
            cnt = m - bisect_right(q, lo, h)
            for a in below:
                x = a.cell.ts
                cnt -= len(x) - bisect_right(x, lo)
            out.append(cnt)
        return out

    def _exact(self, c: _Cell, counts: list[int]) -> tuple[float, int, int, float]:
        """Best candidate window by exact score: (score, window index, count, expected)."""
        R = self._rate(c) / self._bs
        size = nb_size(c.alpha, self.config.overdispersion)
        best = (-1.0, 0, 0, 0.0)
        for i, (k, w) in enumerate(c.kw):
            cnt = counts[i]
            if cnt < k:
                continue
            lam = R * w
            sc = tail_score(cnt, lam, size) - self._lognw
            if sc > best[0]:
                best = (sc, i, cnt, lam)
        return best

    def _slow(self, c: _Cell, t: float, tau: float, chain: tuple[_Cell, ...]) -> None:
        """Trim the cell's window, then test it if a critical count may have been reached."""
        q = c.ts
        h = c.h
        cut = tau - self._maxw
        if q[h] <= cut:
            h2 = bisect_right(q, cut, h)
            c.ns += (h2 - h) * self._W
            if h2 + h2 > len(q):
                del q[:h2]
                h2 = 0
            c.h = h = h2
        n = len(q) - h
        c.lim = h + 16 + n
        if c.alert is not None:
            self._alert_event(c, t, tau)
            if c.alert is not None:
                c.skip = 1
                return
        if n < self._mc:
            c.skip = 1
            return
        if t >= c.until:
            self._refresh(c, t)
        if n < c.gate:
            c.skip = 1
            return
        slack = 1 << 30
        cand = False
        if c.below:
            counts = self._counts(c, tau, True)
            for (k, _w), cnt in zip(c.kw, counts, strict=True):
                d = k - cnt
                if d <= 0:
                    cand = True
                elif d < slack:
                    slack = d
        else:
            m = len(q)
            for k, w in c.kw:
                d = k - m + bisect_right(q, tau - w, h)
                if d <= 0:
                    cand = True
                    break
                if d < slack:
                    slack = d
        if not cand:
            c.skip = slack
            return
        c.skip = 1
        if self._alerts and not c.below:
            for x in chain:
                a = x.alert
                if a is not None and x is not c and not self._expired(a, t):
                    return  # the complaint is in an open alert's cell: that alert takes it
        if t >= self._armed_at:
            res = self._exact(c, self._counts(c, tau, True))
            if res[0] >= self._thr:
                self._cross.append((c, res))

    def _alert_event(self, c: _Cell, t: float, tau: float) -> None:
        """A complaint in an alert's cell: close the alert if cooled down, else maybe grow it."""
        a = c.alert
        assert a is not None
        if tau - a.last_tau > self.config.cooldown:
            self._close(a)
            return
        q = c.ts
        m = len(q)
        for k, w in zip(a.gk, self._windows, strict=True):
            if m >= k and q[-k] > tau - w:  # >= k complaints in the window
                a.own += 1
                self._grow(a, t, tau, 0.0)
                return

    def _grow_counts(self, c: _Cell, size: float) -> tuple[int, ...]:
        """Window counts at which a complaint in the alert's cell joins the alert."""
        R = self._rate(c) / self._bs
        return critical_counts(R, size, self.config.grow_threshold + self._lognw, 1, self._logw)

    def _expired(self, a: _Alert, t: float) -> bool:
        """Cool-down over: ``cooldown`` of operational time since the alert's last complaint."""
        return self._op_now(a.cell.shape, t) - a.last_tau > self.config.cooldown

    def _related(self, c: _Cell, chain: tuple[_Cell, ...], t: float) -> _Alert | None:
        """An open alert whose cell overlaps ``c`` (areas and categories each on one path).

        Alerts on the complaint's own cells come first (most specific first), then those below
        ``c``, then any other overlapping one, e.g. (district, 信号弱) vs (compound, 网络质量).
        Alerts found cooled down are closed on the way.
        """
        for x in chain:
            a = x.alert
            if a is not None:
                if not self._expired(a, t):
                    return a
                self._close(a)
        for a in list(c.below):
            if not self._expired(a, t):
                return a
            self._close(a)
        area, cat = c.area, c.cat
        for a in list(self._alerts.values()):
            x = a.cell
            n, m = min(len(area), x.ad), min(len(cat), x.cd)
            if area[:n] == x.area[:n] and cat[:m] == x.cat[:m]:
                if not self._expired(a, t):
                    return a
                self._close(a)
        return None

    def _resolve(self, chain: tuple[_Cell, ...], t: float, tau: float) -> None:
        cross = self._cross
        self._cross = []
        # The most specific surprising cell decides: a new alert unless it is related (ancestor,
        # descendant or itself) to an open one. Other crossings are folded into that alert.
        target = self._related(cross[0][0], chain, t)
        top = max(res[0] for _c, res in cross)
        if target is None:
            # Unrelated to open alerts — unless an ancestor cell is surprising beyond the open
            # alerts below it (residual counts): then this complaint and that alert are one
            # cluster (a fault filed under sibling categories, or spreading to a neighbour),
            # reported on the ancestor.
            for c, res in cross[1:]:
                for a in list(c.below):
                    if self._expired(a, t):
                        self._close(a)
                        continue
                    for x, r in cross:
                        if x is not c:
                            key = (x.area, x.cat)
                            a.folded[key] = max(r[0], a.folded.get(key, 0.0))
                            a.ft = None
                    self._widen(a, c, res, chain, t, tau, top)
                    return
            self._open(cross, chain, t, tau, top)
            return
        tc = target.cell
        widen: tuple[_Cell, tuple[float, int, int, float]] | None = None
        for c, res in cross:
            if c is tc:
                continue
            key = (c.area, c.cat)
            target.folded[key] = max(res[0], target.folded.get(key, 0.0))
            target.ft = None
            # An ancestor that is surprising even without the complaints of the open alerts
            # below it (its counts are residual): the cluster is wider than the alert's cell.
            if (
                widen is None
                and c.ad <= tc.ad
                and c.cd <= tc.cd
                and tc.area[: c.ad] == c.area
                and tc.cat[: c.cd] == c.cat
            ):
                widen = (c, res)
        if widen is not None:
            self._widen(target, widen[0], widen[1], chain, t, tau, top)
        elif tc in chain:
            self._grow(target, t, tau, top)
        elif top > target.score:
            target.score = top

    def _open(
        self,
        cross: list[tuple[_Cell, tuple[float, int, int, float]]],
        chain: tuple[_Cell, ...],
        t: float,
        tau: float,
        top: float,
    ) -> None:
        c0, (_sc, i, cnt, lam) = cross[0]
        a = _Alert()
        self._seq += 1
        a.id = f"al{self._seq:06d}"
        a.cell = c0
        q = c0.ts
        a.start = self._op_to_real(c0.shape, q[len(q) - cnt])
        a.detected_at = t
        a.last_seen = t
        a.last_tau = tau
        a.count = cnt
        a.own = cnt
        a.expected = lam
        a.window = self._windows[i]
        a.rate = lam / a.window
        a.size = nb_size(c0.alpha, self.config.overdispersion)
        a.gk = self._grow_counts(c0, a.size)
        a.score = top
        a.last_n = self._n
        for c, res in cross[1:]:
            a.folded[(c.area, c.cat)] = res[0]
        a.reg = [x for x in chain if x.ad <= c0.ad and x.cd <= c0.cd]
        for x in a.reg:
            x.below.append(a)
        c0.alert = a
        c0.skip = c0.gate = 1
        c0.until = 0.0
        self._alerts[a.id] = a
        self._upd.append(self._update(a, "new"))

    def _widen(
        self,
        a: _Alert,
        c: _Cell,
        res: tuple[float, int, int, float],
        chain: tuple[_Cell, ...],
        t: float,
        tau: float,
        top: float,
    ) -> None:
        _sc, i, cnt, lam = res
        old = a.cell
        old.alert = None
        old.skip = 1
        old.gate = self._mc
        old.until = 0.0
        keep = []
        for x in a.reg:
            if x.ad <= c.ad and x.cd <= c.cd:
                keep.append(x)
            else:
                x.below.remove(a)
                x.skip = 1
        a.reg = keep
        a.folded.pop((c.area, c.cat), None)
        a.folded[(old.area, old.cat)] = a.score
        a.ft = None
        a.cell = c
        c.alert = a
        c.skip = c.gate = 1
        c.until = 0.0
        # ``cnt`` / ``lam`` are residual: the ancestor's complaints beyond the alert's own.
        a.count += cnt
        a.own += cnt
        a.expected += lam
        a.window = max(a.window, self._windows[i])
        a.rate = self._rate(c) / self._bs
        a.size = nb_size(c.alpha, self.config.overdispersion)
        a.gk = self._grow_counts(c, a.size)
        a.score = max(a.score, top)
        a.last_seen = t
        a.last_tau = tau
        a.last_n = self._n
        self._upd.append(self._update(a, "grow"))

    def _grow(self, a: _Alert, t: float, tau: float, score: float) -> None:
        if a.last_n == self._n:
            if score > a.score:
                a.score = score
            return
        a.last_n = self._n
        a.count += 1
        a.expected += a.rate * max(0.0, tau - a.last_tau)
        a.last_seen = t
        a.last_tau = tau
        cluster = tail_score(a.count, a.expected, a.size) - self._lognw
        a.score = max(a.score, cluster, score)
        self._upd.append(self._update(a, "grow"))

    def _close(self, a: _Alert) -> None:
        if self._alerts.pop(a.id, None) is None:
            return
        c = a.cell
        c.alert = None
        c.skip = 1
        c.gate = self._mc
        c.until = 0.0
        excess = a.own - a.expected
        W = self._W
        for x in a.reg:
            x.below.remove(a)
            x.skip = 1  # residual counts may jump now
            if excess > 0:
                q = x.ts
                k = bisect_right(q, self._op_now(x.shape, self._last_t) - self._maxw, x.h)
                x.ns = max(0.0, x.ns + (k - x.h - excess) * W)
                del q[:k]
                x.h = 0
                x.lim = 16 + len(q)
                x.rb = -1

    def _update(self, a: _Alert, kind: str) -> AlertUpdate:
        ft = a.ft
        if ft is None:
            ft = a.ft = tuple((k[0], k[1], s) for k, s in a.folded.items())
        c = a.cell
        return AlertUpdate(
            a.id, kind, c.area, c.cat, a.start, a.detected_at, a.last_seen, a.count, a.expected, a.score, a.window, ft
        )

    # ------------------------------------------------------------------ persistence

    _ALERT_FLOATS = ("start", "detected_at", "last_seen", "last_tau", "expected", "score", "window", "rate")

    def snapshot(self) -> dict[str, Any]:
        """All state as a JSON-serialisable dict (see :meth:`restore`)."""
        cells = [
            [
                list(c.area),
                list(c.cat),
                c.ts[:],
                c.h,
                c.ns,
                c.gate,
                c.skip,
                c.lim,
                c.until,
                [list(p) for p in c.kw],
                c.kR,
                c.rb,
                c.R,
                c.alpha,
            ]
            for c in self._cells.values()
        ]
        alerts = []
        for a in self._alerts.values():
            d: dict[str, Any] = {k: getattr(a, k) for k in self._ALERT_FLOATS}
            d.update(
                id=a.id,
                area=list(a.cell.area),
                category=list(a.cell.cat),
                count=a.count,
                own=a.own,
                size=a.size if a.size != math.inf else None,
                last_n=a.last_n,
                gk=list(a.gk),
                reg=[[list(x.area), list(x.cat)] for x in a.reg],
                folded=[[list(k[0]), list(k[1]), s] for k, s in a.folded.items()],
            )
            alerts.append(d)
        return {
            "version": 1,
            "config": self.config.to_dict(),
            "state": {
                "t0": self._t0,
                "last_t": self._last_t,
                "bucket": self._bucket,
                "ref": self._ref,
                "W": self._W,
                "n": self._n,
                "seq": self._seq,
                "armed_at": self._armed_at,
                "shape_bucket": self._shape_bucket,
            },
            "profile": {
                "roots": list(self._roots),
                "E": list(self._E),
                "hw": [list(r) for r in self._hw],
                "hc": list(self._hc),
                "eeff": list(self._eeff),
                "shapes": [list(s) for s in self._shapes],
                "tau0": list(self._tau0),
                "v": list(self._v),
                "hist": [[list(e) for e in h] for h in self._hist],
            },
            "cells": cells,
            "alerts": alerts,
        }

    @classmethod
    def restore(cls, snap: dict[str, Any]) -> Detector:
        """Rebuild a detector from :meth:`snapshot` output (also after a JSON round trip)."""
        if snap.get("version") != 1:
            raise ValueError("unsupported detector snapshot version")
        det = cls(DetectorConfig.from_dict(snap["config"]))
        st = snap["state"]
        det._t0 = st["t0"]
        det._last_t = st["last_t"]
        if det._t0 is not None:
            det._bucket = int(st["bucket"])
            det._bstart = det._bucket * det._bs - det.config.utc_offset
            det._bucket_end = det._bstart + det._bs
            det._how = (det._bucket + det._shift) % det._P
        det._ref = st["ref"]
        det._W = st["W"]
        det._n = st["n"]
        det._seq = st["seq"]
        det._armed_at = st["armed_at"]
        det._shape_bucket = st["shape_bucket"]
        pr = snap["profile"]
        det._roots = {r: i + 1 for i, r in enumerate(pr["roots"])}
        det._E = [float(x) for x in pr["E"]]
        det._hw = [[float(x) for x in r] for r in pr["hw"]]
        det._hc = [int(x) for x in pr["hc"]]
        det._eeff = [float(x) for x in pr["eeff"]]
        det._shapes = [[float(x) for x in s] for s in pr["shapes"]]
        det._tau0 = [float(x) for x in pr["tau0"]]
        det._v = [float(x) for x in pr["v"]]
        det._hist = [deque((tuple(e) for e in h), maxlen=det._hist_len) for h in pr["hist"]]
        for area, cat, ts, h, ns, gate, skip, lim, until, kw, kR, rb, R, alpha in snap["cells"]:
            c = det._cell(tuple(area), tuple(cat))
            c.ts = [float(x) for x in ts]
            c.h = int(h)
            c.ns = float(ns)
            c.gate = int(gate)
            c.skip = int(skip)
            c.lim = int(lim)
            c.until = float(until)
            c.kw = tuple((int(k), float(w)) for k, w in kw)
            c.kR = float(kR)
            c.rb = int(rb)
            c.R = float(R)
            c.alpha = float(alpha)
        for d in snap["alerts"]:
            a = _Alert()
            a.id = d["id"]
            for k in cls._ALERT_FLOATS:
                setattr(a, k, float(d[k]))
            a.cell = c0 = det._cells[(tuple(d["area"]), tuple(d["category"]))]
            a.count = int(d["count"])
            a.own = int(d["own"])
            a.last_n = int(d["last_n"])
            a.gk = tuple(int(x) for x in d["gk"])
            a.size = math.inf if d["size"] is None else float(d["size"])
            a.folded = {(tuple(x[0]), tuple(x[1])): float(x[2]) for x in d["folded"]}
            a.reg = [det._cells[(tuple(x[0]), tuple(x[1]))] for x in d["reg"]]
            for x in a.reg:
                x.below.append(a)
            c0.alert = a
            det._alerts[a.id] = a
        return det
