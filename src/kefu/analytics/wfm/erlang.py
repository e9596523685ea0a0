"""Erlang B, Erlang C and Erlang A queueing formulas for workforce management.

Units: ``arrival_rate`` is in calls per second; ``aht`` (mean handling time), ``patience``
(mean caller patience) and ``threshold`` (service-level answer target) are in seconds.
The offered load in Erlangs is ``a = arrival_rate * aht``.

Models
------
Every model assumes a single FCFS queue in steady state, Poisson arrivals (rate ``λ``),
``n`` identical agents and exponentially distributed handling times (mean ``aht``,
rate ``μ = 1/aht``) that are independent of everything else.

* **Erlang B** (M/M/n/n, loss system): there is no queue; a call that finds all ``n``
  agents busy is blocked and lost.  :func:`erlang_b` is the blocking probability.  It is
  insensitive to the handling-time distribution (M/G/n/n gives the same value).
* **Erlang C** (M/M/n): unlimited waiting room and infinitely patient callers, so every
  call is eventually answered.  The queue is stable only when ``a < n``; for ``a >= n``
  the queue grows without bound and :func:`erlang_c_metrics` reports ``p_wait = 1``,
  ``service_level = 0`` and infinite waits instead of raising.
* **Erlang A** (M/M/n+M, Palm's model): as Erlang C, but each waiting caller abandons
  after an exponentially distributed patience time (mean ``patience``, rate
  ``θ = 1/patience``), independent of everything else.  Calls already being served never
  abandon.  Every load is stable.  Formulas follow Garnett, Mandelbaum & Reiman (2002),
  "Designing a call center with impatient customers", and Mandelbaum & Zeltyn,
  "The M/M/n+G queue: summary of performance measures"; see :func:`erlang_a_metrics`.

Numerics
--------
Erlang B uses the stable recursion ``B(0) = 1``, ``B(k) = a B(k-1) / (k + a B(k-1))``;
Erlang C is derived from it as ``C = B / (1 - ρ (1 - B))`` with ``ρ = a / n``.  Nothing
ever evaluates ``a**n / n!``.  Erlang A quantities are computed either from the
regularised incomplete gamma function (``scipy.special.gammainc``, used when the queue is
overloaded and its terms would overflow) or from a log-space, max-rescaled sum over the
queue-length distribution seen by a waiting arrival (used otherwise, where the gamma form
would underflow or cancel).  Both are exact expressions, not simulations; they work for
tens of thousands of agents.  The Erlang A cost is ``O(n)`` for the Erlang B recursion plus
``O(sqrt(arrival_rate * patience))`` vectorised terms.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = [
    "QueueMetrics",
    "agents_for_abandon_rate",
    "agents_for_asa",
    "agents_for_service_level",
    "erlang_a_metrics",
    "erlang_b",
    "erlang_c",
    "erlang_c_metrics",
]


@dataclass(frozen=True)
class QueueMetrics:
    """Steady-state performance of a queue staffed with ``agents`` agents.

    Attributes:
        agents: number of agents ``n``.
        offered_load: offered load in Erlangs, ``arrival_rate * aht``.
        p_wait: probability that an arriving call is not answered at once (it finds all
            agents busy and has to queue, whatever happens to it afterwards).
        service_level: share of OFFERED calls that are answered within ``threshold``
            seconds, i.e. ``P(answered and wait <= threshold)``.  Abandoned calls count as
            failures, whatever their waiting time.
        asa_seconds: average speed of answer, the mean wait of ANSWERED calls.  Calls
            answered at once count with a wait of 0.  In Erlang C every call is answered,
            so it equals ``mean_wait_all_seconds``.  ``inf`` when no call is ever answered
            (no agents) or the Erlang C queue is unstable.
        abandon_rate: share of offered calls that abandon (always 0 for Erlang C).
        occupancy: carried load divided by the number of agents, i.e. the mean share of
            agents that are busy (1 for an unstable Erlang C queue, 0 without agents).
        mean_wait_all_seconds: mean time in queue over ALL offered calls, including the
            time abandoning callers waited before hanging up (``inf`` if unstable).
    """

    agents: int
    offered_load: float
    p_wait: float
    service_level: float
    asa_seconds: float
    abandon_rate: float
    occupancy: float
    mean_wait_all_seconds: float


# ---------------------------------------------------------------------------
# argument checking


def _check_agents(agents: int) -> int:
    if isinstance(agents, bool):
        raise TypeError("agents must be an integer, not bool")
    n = operator.index(agents)
    if n < 0:
        raise ValueError(f"agents must be >= 0, got {n}")
    return n


def _check_finite(name: str, value: float, *, positive: bool) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0.0 or (positive and v == 0.0):
        kind = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be finite and {kind}, got {value!r}")
    return v


def _check_threshold(threshold: float) -> float:
    t = float(threshold)
    if math.isnan(t) or t < 0.0:
        raise ValueError(f"threshold must be >= 0 (inf allowed), got {threshold!r}")
    return t


def _check_patience(patience: float) -> float:
    p = float(patience)
    if math.isnan(p) or p <= 0.0:
        raise ValueError(f"patience must be > 0 (inf means no abandonment), got {patience!r}")
    return p


def _check_fraction(name: str, value: float) -> float:
    v = float(value)
    if not 0.0 < v < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")
    return v


# ---------------------------------------------------------------------------
# Erlang B and C


class _ErlangBTable:
    """Erlang B values ``B(0), B(1), ...`` for a fixed load, extended lazily.

    Used by the staffing searches so that evaluating many agent counts costs ``O(max n)``
    in total instead of ``O(n)`` per evaluation.
    """

    def __init__(self, load: float) -> None:
        self._load = load
        self._values = [1.0]

    def __call__(self, n: int) -> float:
        values = self._values
        if n >= len(values):
            a = self._load
            b = values[-1]
            for k in range(len(values), n + 1):
                ab = a * b
                b = ab / (k + ab)
                values.append(b)
        return values[n]


def erlang_b(agents: int, load: float) -> float:
    """Erlang B blocking probability of a loss system with ``agents`` servers.

    Uses the recursion ``B(0) = 1``, ``B(k) = a B(k-1) / (k + a B(k-1))`` which stays in
    ``[0, 1]`` (no overflow for any ``n`` or ``a``; for ``n >> a`` the value underflows
    gracefully to 0).  ``load`` is the offered load ``a`` in Erlangs.
    """
    n = _check_agents(agents)
    a = _check_finite("load", load, positive=False)
    b = 1.0
    for k in range(1, n + 1):
        ab = a * b
        b = ab / (k + ab)
    return b


def _erlang_c_from_b(n: int, a: float, b: float) -> float:
    if a >= n:
        return 1.0
    rho = a / n
    return min(1.0, b / (1.0 - rho * (1.0 - b)))


def erlang_c(agents: int, load: float) -> float:
    """Erlang C probability of waiting in an M/M/n queue with offered load ``load``.

    Computed from Erlang B as ``C = B / (1 - ρ (1 - B))``, ``ρ = load / agents``.  Returns
    1.0 when ``load >= agents`` (unstable queue: every arrival eventually waits).
    """
    n = _check_agents(agents)
    a = _check_finite("load", load, positive=False)
    if a >= n:
        return 1.0
    return _erlang_c_from_b(n, a, erlang_b(n, a))


def _idle_metrics(n: int) -> QueueMetrics:
    """Metrics of a queue that receives no calls."""
    return QueueMetrics(
        agents=n,
        offered_load=0.0,
        p_wait=0.0,
        service_level=1.0,
        asa_seconds=0.0,
        abandon_rate=0.0,
        occupancy=0.0,
        mean_wait_all_seconds=0.0,
    )


def _erlang_c_metrics(n: int, lam: float, aht: float, threshold: float, b: float) -> QueueMetrics:
    a = lam * aht
    if lam == 0.0:
        return _idle_metrics(n)
    if a >= n:
        return QueueMetrics(
            agents=n,
            offered_load=a,
            p_wait=1.0,
            service_level=0.0,
            asa_seconds=math.inf,
            abandon_rate=0.0,
            occupancy=1.0 if n > 0 else 0.0,
            mean_wait_all_seconds=math.inf,
        )
    c = _erlang_c_from_b(n, a, b)
    drain = (n - a) / aht  # n μ - λ, the decay rate of the conditional waiting time
    wait = c / drain
    return QueueMetrics(
        agents=n,
        offered_load=a,
        p_wait=c,
        service_level=min(1.0, max(0.0, 1.0 - c * math.exp(-drain * threshold))),
        asa_seconds=wait,
        abandon_rate=0.0,
        occupancy=a / n,
        mean_wait_all_seconds=wait,
    )


def erlang_c_metrics(agents: int, arrival_rate: float, aht: float, threshold: float = 20.0) -> QueueMetrics:
    """Erlang C (M/M/n) performance measures.

    * ``p_wait = C(n, a)``;
    * ``service_level = P(W <= t) = 1 - C exp(-(n μ - λ) t)`` (every call is answered, so
      this is the share of offered calls answered within ``t = threshold``);
    * ``asa_seconds = mean_wait_all_seconds = E[W] = C / (n μ - λ)`` -- with no
      abandonment the mean wait of answered calls and of all calls coincide;
    * ``abandon_rate = 0``, ``occupancy = a / n``.

    For ``a >= n`` the queue is unstable and the result says so: ``p_wait = 1``,
    ``service_level = 0``, infinite waits, ``occupancy = 1``.  With ``arrival_rate == 0``
    every measure is that of an idle system (``service_level = 1``, zero waits).
    """
    n = _check_agents(agents)
    lam = _check_finite("arrival_rate", arrival_rate, positive=False)
    h = _check_finite("aht", aht, positive=True)
    t = _check_threshold(threshold)
    a = lam * h
    b = erlang_b(n, a) if a < n else 1.0
    return _erlang_c_metrics(n, lam, h, t, b)


# ---------------------------------------------------------------------------
# Erlang A (M/M/n+M)
#
# Write x = n μ / θ = n * patience / aht and y = λ / θ = arrival_rate * patience.  An
# arrival that finds all agents busy and j callers already queued sees the state n + j
# with stationary probability π_n t_j, where
#
#     t_j = prod_{i=1..j} y / (x + i),      S(x, y) = sum_{j >= 0} t_j
#         = Γ(x+1) e^y y^(-x) P(x, y)       (P = regularised lower incomplete gamma).
#
# S is the A(x, y) function of Mandelbaum & Zeltyn.  Such a caller moves up the queue at
# rate n μ + i θ while i callers are ahead of it and abandons at rate θ, which gives
# P(answered | j ahead) = x / (x + j + 1) and E[wait; answered | j ahead]
# = x / (x + j + 1) * (ψ(x + j + 2) - ψ(x + 1)) / θ.  Averaging over w_j = t_j / S gives
# the conditional measures below.  The offered-wait density on (0, ∞) is proportional to
# exp(λ H(t) - n μ t), H(t) = (1 - e^(-θ t)) / θ, from which
# P(answered, wait > t | queued) = (x / y) P(x + 1, y e^(-θ t)) / P(x, y).

_NEGLIGIBLE = 50.0  # terms below e^-50 (~2e-22) times the largest term are dropped
_CHUNK = 1 << 17
_MAX_TERMS = 1 << 31


@dataclass(frozen=True)
class _PalmSums:
    j0: int  # first index of the summation window; 0 means the whole series was summed
    log_total: float  # log of sum_{j >= j0} t_j / t_{j0}; equals log S when j0 == 0
    log_total1: float  # log of sum_{j >= max(j0, 1)} t_j / t_{j0}; log(S - 1) when j0 == 0
    served: float  # P(answered | queued) = E_w[x / (x + J + 1)]
    abandoned: float  # P(abandon | queued) = E_w[(J + 1) / (x + J + 1)]
    served_wait: float  # θ E[wait; answered | queued] = E_w[x / (x + J + 1) * H_J]
    first_gap: float  # log(t_j0 / max_j t_j) <= 0; must be negligible when j0 > 0


def _palm_window(x: float, log_y: float, j0: int, mode: int, first_chunk: int) -> _PalmSums:
    """Sum the series t_j from j0 until it is negligible, rescaling by the running max."""
    h_prev = float(special.digamma(x + j0 + 1.0) - special.digamma(x + 1.0)) if j0 > 0 else 0.0
    logt_prev = 0.0
    scale = -math.inf
    s_tot = s_tot1 = s_srv = s_ab = s_sw = 0.0
    start = j0
    chunk = first_chunk
    while True:
        j = np.arange(start, start + chunk, dtype=np.float64)
        inv = 1.0 / (x + j + 1.0)
        h = h_prev + np.cumsum(inv)  # H_j = sum_{i=1..j+1} 1 / (x + i)
        steps = log_y - np.log(x + j)  # log(t_j / t_{j-1})
        if start == j0:
            steps[0] = 0.0
        logt = logt_prev + np.cumsum(steps)
        new_scale = max(scale, float(logt.max()))
        if s_tot > 0.0:
            shrink = math.exp(scale - new_scale)
            s_tot *= shrink
            s_tot1 *= shrink
            s_srv *= shrink
            s_ab *= shrink
            s_sw *= shrink
        scale = new_scale
        w = np.exp(logt - scale)
        w_srv = w * (x * inv)
        s_tot += float(w.sum())
        s_tot1 += float(w[1:].sum()) if start == 0 else float(w.sum())
        s_srv += float(w_srv.sum())
        s_ab += float((w * ((j + 1.0) * inv)).sum())
        s_sw += float((w_srv * h).sum())
        logt_prev = float(logt[-1])
        h_prev = float(h[-1])
        start += chunk
        if start - 1 >= mode and logt_prev < scale - _NEGLIGIBLE:
            break
        if start - j0 > _MAX_TERMS:  # pragma: no cover - needs arrival_rate * patience > 1e16
            raise ArithmeticError("Erlang A series did not converge; arrival_rate * patience is too large")
        chunk = _CHUNK
    return _PalmSums(
        j0=j0,
        log_total=scale + math.log(s_tot),
        log_total1=scale + math.log(s_tot1) if s_tot1 > 0.0 else -math.inf,
        served=s_srv / s_tot,
        abandoned=s_ab / s_tot,
        served_wait=s_sw / s_tot,
        first_gap=-scale,
    )


def _palm_sums(x: float, y: float) -> _PalmSums:
    """Window sums of the queue-length distribution seen by a queued arrival."""
    log_y = math.log(y) if y > 0.0 else -math.inf
    # t_j / t_{j-1} = y / (x + j) >= 1 iff j <= y - x: the terms peak at j = floor(y - x).
    mode = max(0, math.floor(y - x))
    # Around the peak log t_j falls at least like -(j - mode)^2 / (2 y) log 2, so the
    # window mode ± (12 sqrt(y) + 30) holds everything above e^-50 of the peak.
    half = math.ceil(12.0 * math.sqrt(y) + 30.0)
    while True:
        j0 = max(0, mode - half)
        first_chunk = min(_CHUNK, max(256, mode - j0 + half + 64))
        sums = _palm_window(x, log_y, j0, mode, first_chunk)
        if j0 == 0 or sums.first_gap < -_NEGLIGIBLE:
            return sums
        half *= 2  # pragma: no cover - defensive, the bound above is conservative


def _log_s(x: float, y: float, sums: _PalmSums) -> float:
    """log S(x, y), from the series when it was summed from 0, else via gammainc."""
    if sums.j0 == 0:
        return sums.log_total
    # Overloaded (y well above x): P(x, y) is close to 1 and S is astronomically large.
    return math.log(float(special.gammainc(x, y))) - (
        float(special.xlogy(x, y)) - y - float(special.gammaln(x + 1.0))
    )


def _log_s_minus_1(x: float, y: float) -> float:
    """log(S(x, y) - 1) without cancellation."""
    sums = _palm_sums(x, y)
    if sums.j0 == 0:
        return sums.log_total1
    log_s = _log_s(x, y, sums)
    return log_s + math.log1p(-math.exp(-log_s))


def _erlang_a_metrics(
    n: int, lam: float, aht: float, patience: float, threshold: float, b: float
) -> QueueMetrics:
    a = lam * aht
    if lam == 0.0:
        return _idle_metrics(n)
    if n == 0:
        # Everybody queues and, with nobody to answer, abandons after its patience.
        return QueueMetrics(
            agents=0,
            offered_load=a,
            p_wait=1.0,
            service_level=0.0,
            asa_seconds=math.inf,
            abandon_rate=1.0,
            occupancy=0.0,
            mean_wait_all_seconds=patience,
        )
    theta = 1.0 / patience
    x = n * patience / aht
    y = lam * patience
    sums = _palm_sums(x, y)
    log_s = _log_s(x, y, sums)

    # P(wait > 0) = S B / (1 - B + S B)  (Mandelbaum & Zeltyn: A E / (1 + (A - 1) E)).
    log_b = math.log(b) if b > 0.0 else -math.inf
    p_wait = float(special.expit(log_s + log_b - math.log1p(-b))) if b < 1.0 else 1.0

    # P(answered, wait > t | queued)
    if threshold == 0.0:
        tail = sums.served
    elif math.isinf(threshold):
        tail = 0.0
    elif sums.j0 == 0:
        # (x / y) e^(y (1 - e^(-θt)) - n μ t) (S(x, y e^(-θt)) - 1) / S(x, y)
        log_tail = (
            math.log(x / y)
            - y * math.expm1(-theta * threshold)
            - x * theta * threshold
            + _log_s_minus_1(x, y * math.exp(-theta * threshold))
            - log_s
        )
        tail = math.exp(log_tail)
    else:
        # (x / y) P(x + 1, y e^(-θt)) / P(x, y); here P(x, y) is close to 1.
        y_t = y * math.exp(-theta * threshold)
        tail = (x / y) * float(special.gammainc(x + 1.0, y_t)) / float(special.gammainc(x, y))
    tail = min(max(tail, 0.0), sums.served)

    abandon = p_wait * sums.abandoned
    answered = (1.0 - p_wait) + p_wait * sums.served
    service_level = (1.0 - p_wait) + p_wait * (sums.served - tail)
    # E[wait; answered] / P(answered): answered-at-once calls contribute zero wait.
    asa = p_wait * sums.served_wait * patience / answered if answered > 0.0 else math.inf
    return QueueMetrics(
        agents=n,
        offered_load=a,
        p_wait=p_wait,
        service_level=min(1.0, max(0.0, service_level)),
        asa_seconds=asa,
        abandon_rate=min(1.0, abandon),
        occupancy=min(1.0, a * answered / n),
        # Little's law for the queue plus "abandonment rate = θ E[queue length]":
        # λ P(Ab) = θ E[Q] = θ λ E[W], hence E[W] = P(Ab) * patience.
        mean_wait_all_seconds=abandon * patience,
    )


def erlang_a_metrics(
    agents: int, arrival_rate: float, aht: float, patience: float, threshold: float = 20.0
) -> QueueMetrics:
    """Erlang A (M/M/n+M, Palm) performance measures with exponential patience.

    With ``x = n μ / θ``, ``y = λ / θ``, ``ρ = λ / (n μ)``, ``B`` = Erlang B(n, a) and
    ``A = S(x, y) = Γ(x+1) e^y y^-x P(x, y)`` (``P`` = ``scipy.special.gammainc``):

    * ``p_wait = P(W > 0) = A B / (1 + (A - 1) B)`` -- the probability of not being
      answered at once (the caller queues; it may then be answered or abandon);
    * ``P(Ab | W > 0) = 1 / (ρ A) + 1 - 1 / ρ`` and ``abandon_rate = P(Ab)``;
    * ``service_level = P(answered, W <= t) = P(answered) - P(answered, W > t)`` over
      OFFERED calls, where ``P(answered, W > t) = p_wait (x/y) P(x+1, y e^-θt) / P(x, y)``;
      abandoned calls never count as answered within ``t``, however short their wait;
    * ``asa_seconds = E[W | answered]``: the mean wait of ANSWERED calls, including the
      calls answered at once with wait 0 (the mean over answered calls that queued is
      ``asa_seconds / P(W > 0 | answered)``);
    * ``mean_wait_all_seconds = E[W] = P(Ab) * patience`` over all offered calls
      (abandoners count with the time they waited), by Little's law;
    * ``occupancy = a P(answered) / n`` (carried load per agent).

    ``patience=math.inf`` means nobody abandons and returns :func:`erlang_c_metrics`.
    Every finite patience gives a stable queue, whatever the load.
    """
    n = _check_agents(agents)
    lam = _check_finite("arrival_rate", arrival_rate, positive=False)
    h = _check_finite("aht", aht, positive=True)
    p = _check_patience(patience)
    t = _check_threshold(threshold)
    if math.isinf(p):
        return erlang_c_metrics(n, lam, h, t)
    return _erlang_a_metrics(n, lam, h, p, t, erlang_b(n, lam * h))


# ---------------------------------------------------------------------------
# staffing


def _smallest(ok: Callable[[int], bool], lo: int, max_agents: int, what: str) -> int:
    """Smallest ``n`` in ``[lo, max_agents]`` with ``ok(n)``; ``ok`` must be monotone in n.

    Gallops upwards from ``lo`` (step 1, 2, 4, ...) and then bisects, so it needs
    ``O(log(answer - lo))`` evaluations.
    """
    lo = max(0, lo)
    if lo > max_agents:
        raise ValueError(f"{what} needs more than max_agents={max_agents} agents")
    if ok(lo):
        return lo
    bad, step = lo, 1
    while True:
        cand = min(bad + step, max_agents)
        if ok(cand):
            good = cand
            break
        if cand == max_agents:
            raise ValueError(f"{what} is not reachable with max_agents={max_agents} agents")
        bad, step = cand, step * 2
    while good - bad > 1:
        mid = (bad + good) // 2
        if ok(mid):
            good = mid
        else:
            bad = mid
    return good


def _staffing_model(
    arrival_rate: float, aht: float, patience: float | None, threshold: float
) -> tuple[float, float, Callable[[int], QueueMetrics], float | None]:
    lam = _check_finite("arrival_rate", arrival_rate, positive=False)
    h = _check_finite("aht", aht, positive=True)
    p = None if patience is None else _check_patience(patience)
    if p is not None and math.isinf(p):
        p = None
    table = _ErlangBTable(lam * h)
    a = lam * h

    def metrics(n: int) -> QueueMetrics:
        if p is None:
            return _erlang_c_metrics(n, lam, h, threshold, table(n) if a < n else 1.0)
        return _erlang_a_metrics(n, lam, h, p, threshold, table(n))

    return lam, a, metrics, p


def _stable_floor(a: float) -> int:
    """Smallest agent count with a stable Erlang C queue (n > a)."""
    return math.floor(a) + 1


def agents_for_service_level(
    arrival_rate: float,
    aht: float,
    threshold: float,
    target: float,
    *,
    patience: float | None = None,
    max_agents: int = 100_000,
) -> int:
    """Smallest number of agents whose service level (share of offered calls answered
    within ``threshold`` seconds) is at least ``target`` (strictly between 0 and 1).

    Erlang C without ``patience``, Erlang A with it.  Returns 0 when ``arrival_rate`` is 0
    and raises ``ValueError`` if more than ``max_agents`` agents would be needed.  The
    search starts at a lower bound (``floor(a) + 1`` for Erlang C; ``floor(target * a)`` for
    Erlang A since at most ``n / a`` of the offered calls can be answered) and gallops then
    bisects, so it costs ``O(answer)`` for the Erlang B recursion plus ``O(log)`` metric
    evaluations.
    """
    t = _check_threshold(threshold)
    goal = _check_fraction("target", target)
    limit = _check_agents(max_agents)
    lam, a, metrics, p = _staffing_model(arrival_rate, aht, patience, t)
    if lam == 0.0:
        return 0
    lo = _stable_floor(a) if p is None else math.floor(goal * a)
    return _smallest(lambda n: metrics(n).service_level >= goal, lo, limit, "service level target")


def agents_for_asa(
    arrival_rate: float,
    aht: float,
    target_asa: float,
    *,
    patience: float | None = None,
    max_agents: int = 100_000,
) -> int:
    """Smallest number of agents whose ASA (mean wait of answered calls, seconds) is at
    most ``target_asa`` (> 0).  Erlang C without ``patience``, Erlang A with it.

    Returns 0 when ``arrival_rate`` is 0; raises ``ValueError`` if more than
    ``max_agents`` agents would be needed.
    """
    goal = _check_finite("target_asa", target_asa, positive=True)
    limit = _check_agents(max_agents)
    lam, a, metrics, p = _staffing_model(arrival_rate, aht, patience, 0.0)
    if lam == 0.0:
        return 0
    lo = _stable_floor(a) if p is None else 1
    return _smallest(lambda n: metrics(n).asa_seconds <= goal, lo, limit, "ASA target")


def agents_for_abandon_rate(
    arrival_rate: float,
    aht: float,
    patience: float,
    target: float,
    *,
    max_agents: int = 100_000,
) -> int:
    """Smallest number of agents whose Erlang A abandonment rate (share of offered calls
    that abandon) is at most ``target`` (strictly between 0 and 1).

    Returns 0 when ``arrival_rate`` is 0; raises ``ValueError`` if more than
    ``max_agents`` agents would be needed.  The search starts at ``floor((1 - target) a)``
    since at most ``n / a`` of the offered calls can be answered.
    """
    goal = _check_fraction("target", target)
    limit = _check_agents(max_agents)
    if patience is None:
        raise ValueError("agents_for_abandon_rate needs a patience (Erlang C has no abandonment)")
    lam, a, metrics, p = _staffing_model(arrival_rate, aht, patience, 0.0)
    if lam == 0.0:
        return 0
    if p is None:
        raise ValueError("with infinite patience nobody abandons; use a finite patience")
    lo = math.floor((1.0 - goal) * a)
    return _smallest(lambda n: metrics(n).abandon_rate <= goal, lo, limit, "abandonment target")
