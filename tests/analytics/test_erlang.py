"""Tests for the Erlang B / C / A maths in ``kefu.analytics.wfm.erlang``.

Published numbers are re-derived inside the tests from first principles (exact
``fractions.Fraction`` sums for Erlang B/C, a truncated continuous-time Markov chain for
Erlang A) before the library is compared against them, so a wrong published figure or a
wrong library formula cannot agree by accident.
"""

from __future__ import annotations

import itertools
import math
import time
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special
from scipy.linalg import expm

from kefu.analytics.wfm.erlang import (
    QueueMetrics,
    agents_for_abandon_rate,
    agents_for_asa,
    agents_for_service_level,
    erlang_a_metrics,
    erlang_b,
    erlang_c,
    erlang_c_metrics,
)

# ---------------------------------------------------------------------------
# independent reference computations


def exact_erlang_b(n: int, a: Fraction) -> Fraction:
    """Erlang B straight from its definition (a^n/n!) / sum_k a^k/k!, in exact arithmetic."""
    term, total = Fraction(1), Fraction(1)
    for k in range(1, n + 1):
        term = term * a / k
        total += term
    return term / total


def exact_erlang_c(n: int, a: Fraction) -> Fraction:
    """Erlang C from its textbook definition (not via Erlang B), exact for a < n."""
    term, below = Fraction(1), Fraction(0)
    for k in range(n):
        below += term
        term = term * a / (k + 1)
    waiting = term * n / (n - a)  # a^n/n! * n/(n-a)
    return waiting / (below + waiting)


def markov_reference(n: int, lam: float, aht: float, patience: float, t: float, qmax: int = 250) -> dict:
    """Erlang A from first principles, with no formula from the library.

    The stationary law of the birth-death chain (birth λ, death min(k,n)μ + (k-n)^+ θ) is
    computed on a truncated state space.  A tagged arrival that finds i callers queued
    moves through phases i, i-1, ..., 0 (leaving each at rate nμ + iθ) and abandons at
    rate θ; P(answered by t) comes from the matrix exponential of that absorbing chain
    and E[wait; answered] from its fundamental matrix.
    """
    mu, th = 1.0 / aht, 1.0 / patience
    logp = np.zeros(n + qmax + 1)
    for k in range(1, n + qmax + 1):
        logp[k] = logp[k - 1] + math.log(lam / (min(k, n) * mu + max(k - n, 0) * th))
    p = np.exp(logp - logp.max())
    p /= p.sum()
    queued = p[n:]  # arrival finds i = 0..qmax callers ahead (PASTA)
    m = qmax + 1
    gen = np.zeros((m + 2, m + 2))  # phases 0..qmax, then "answered", "abandoned"
    for i in range(m):
        r = n * mu + i * th
        gen[i, i - 1 if i else m] = r
        gen[i, m + 1] = th
        gen[i, i] = -(r + th)
    init = np.zeros(m + 2)
    init[:m] = queued
    answered_by_t = (init @ expm(gen * t))[m]
    fundamental = np.linalg.inv(-gen[:m, :m])
    p_ans = fundamental @ gen[:m, m]
    p_ans_total = (1 - queued.sum()) + queued @ p_ans
    wait_answered = queued @ (fundamental @ p_ans)
    wait_all = queued @ (fundamental @ np.ones(m))
    return {
        "p_wait": queued.sum(),
        "abandon_rate": queued @ (fundamental @ gen[:m, m + 1]),
        "service_level": (1 - queued.sum()) + answered_by_t,
        "asa_seconds": wait_answered / p_ans_total,
        "mean_wait_all_seconds": wait_all,
        "mean_queue": float(np.arange(m) @ queued),
    }


def poisson_pmf(k: np.ndarray | int, a: float) -> np.ndarray:
    return np.exp(special.xlogy(k, a) - a - special.gammaln(np.asarray(k) + 1.0))


def poisson_sf_at_least(n: int, a: float) -> float:
    """P(N >= n) for N ~ Poisson(a) (regularised lower incomplete gamma)."""
    return float(special.gammainc(n, a))


def poisson_cdf(n: int, a: float) -> float:
    """P(N <= n) for N ~ Poisson(a)."""
    return float(special.gammaincc(n + 1, a))


def assert_sane(m: QueueMetrics) -> None:
    for name in ("p_wait", "service_level", "abandon_rate", "occupancy"):
        value = getattr(m, name)
        assert math.isfinite(value) and 0.0 <= value <= 1.0, (name, m)
    assert not math.isnan(m.asa_seconds) and m.asa_seconds >= 0.0, m
    assert not math.isnan(m.mean_wait_all_seconds) and m.mean_wait_all_seconds >= 0.0, m


# ---------------------------------------------------------------------------
# Erlang B / C: published examples, each re-derived exactly first


@pytest.mark.parametrize(
    ("n", "load", "published"),
    [
        # Standard Erlang B (blocking) tables, e.g. the traffic tables in Cooper,
        # "Introduction to Queueing Theory": 10 circuits at 5 E -> 1.838 % blocking.
        (10, 5, 0.01838),
        # Same tables: 5 circuits at 2 E -> 3.67 % blocking.
        (5, 2, 0.0367),
        # Same tables: 20 circuits at 15 E -> 4.56 % blocking.
        (20, 15, 0.0456),
    ],
)
def test_erlang_b_published_tables(n: int, load: int, published: float) -> None:
    exact = float(exact_erlang_b(n, Fraction(load)))
    assert exact == pytest.approx(published, abs=0.5 * 10 ** -(len(str(published)) - 2))
    assert erlang_b(n, load) == pytest.approx(exact, rel=1e-13)


def test_erlang_b_small_closed_forms() -> None:
    assert erlang_b(0, 3.0) == 1.0
    assert erlang_b(1, 3.0) == pytest.approx(3.0 / 4.0, rel=1e-15)  # a / (1 + a)
    assert erlang_b(4, 0.0) == 0.0
    for n, a in [(1, Fraction(1, 2)), (7, Fraction(13, 3)), (30, Fraction(45, 2)), (60, Fraction(61))]:
        assert erlang_b(n, float(a)) == pytest.approx(float(exact_erlang_b(n, a)), rel=1e-12)


def test_erlang_c_call_centre_helper_worked_example() -> None:
    # callcentrehelper.com, "Erlang C Formula - Made Simple With an Easy Worked Example":
    # 100 calls per 30 minutes, AHT 3 min (180 s), answer target 20 s -> 10 Erlangs.
    # Published: 11 agents -> P(wait) 68.21 %, ASA ~122.8 s; 14 agents -> P(wait) 17.41 %,
    # service level 88.8 %, ASA 7.8 s, occupancy 71.4 %.  (The often quoted SL(20 s) of
    # 39.29 % for 11 agents does NOT follow from the formula: 1 - 0.6821 e^(-1*20/180)
    # = 0.3896, which the exact computation below confirms.)
    lam, aht = 100 / 1800, 180.0
    for n, pw, sl, asa in [(11, 0.6821, 0.3896, 122.8), (14, 0.1741, 0.8884, 7.84)]:
        exact_c = float(exact_erlang_c(n, Fraction(10)))
        assert exact_c == pytest.approx(pw, abs=5e-5)
        exact_sl = 1 - exact_c * math.exp(-(n - 10) * 20 / aht)
        assert exact_sl == pytest.approx(sl, abs=5e-5)
        exact_asa = exact_c * aht / (n - 10)
        assert exact_asa == pytest.approx(asa, abs=0.05)

        m = erlang_c_metrics(n, lam, aht, threshold=20)
        assert m.offered_load == pytest.approx(10.0, rel=1e-14)
        assert m.p_wait == pytest.approx(exact_c, rel=1e-12)
        assert erlang_c(n, 10.0) == pytest.approx(exact_c, rel=1e-12)
        assert m.service_level == pytest.approx(exact_sl, rel=1e-12)
        assert m.asa_seconds == pytest.approx(exact_asa, rel=1e-12)
        assert m.mean_wait_all_seconds == m.asa_seconds  # no abandonment: same mean
        assert m.abandon_rate == 0.0
        assert m.occupancy == pytest.approx(10 / n, rel=1e-14)
    # ... and the article's staffing answer for 80 % in 20 s is 14 agents (13 give 79.6 %).
    assert agents_for_service_level(lam, aht, 20, 0.80) == 14
    assert erlang_c_metrics(13, lam, aht, 20).service_level == pytest.approx(0.7956, abs=5e-5)


def test_mm1_and_mm2_textbook_closed_forms() -> None:
    # M/M/1 (Kleinrock, Queueing Systems vol. 1): P(wait) = ρ, Wq = ρ / (μ - λ),
    # P(Wq > t) = ρ e^{-(μ - λ) t}.
    lam, aht = 0.75, 1.0
    m = erlang_c_metrics(1, lam, aht, threshold=2.0)
    assert m.p_wait == pytest.approx(0.75, rel=1e-15)
    assert m.asa_seconds == pytest.approx(0.75 / 0.25, rel=1e-14)
    assert m.service_level == pytest.approx(1 - 0.75 * math.exp(-0.25 * 2.0), rel=1e-14)
    # M/M/2 with a = 1: C = 1/3 exactly.
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3, rel=1e-15)
    assert float(exact_erlang_c(2, Fraction(1))) == pytest.approx(1 / 3, rel=1e-15)


@pytest.mark.parametrize(
    ("n", "a"),
    [(1, Fraction(1, 3)), (3, Fraction(5, 2)), (11, Fraction(10)), (25, Fraction(99, 5)), (80, Fraction(79))],
)
def test_erlang_c_identity_from_erlang_b(n: int, a: Fraction) -> None:
    # C = B / (1 - ρ (1 - B)) with ρ = a / n, checked exactly against the definition of C.
    b = exact_erlang_b(n, a)
    rho = a / n
    assert b / (1 - rho * (1 - b)) == exact_erlang_c(n, a)
    assert erlang_c(n, float(a)) == pytest.approx(float(exact_erlang_c(n, a)), rel=1e-12)


def test_erlang_c_unstable_is_reported_not_raised() -> None:
    assert erlang_c(10, 10.0) == 1.0
    assert erlang_c(10, 12.5) == 1.0
    m = erlang_c_metrics(10, 12.0 / 180, 180.0, 20.0)
    assert (m.p_wait, m.service_level, m.abandon_rate, m.occupancy) == (1.0, 0.0, 0.0, 1.0)
    assert m.asa_seconds == math.inf and m.mean_wait_all_seconds == math.inf


def test_no_traffic_and_edge_thresholds() -> None:
    for m in (erlang_c_metrics(3, 0.0, 100.0), erlang_a_metrics(3, 0.0, 100.0, 30.0)):
        assert (m.p_wait, m.service_level, m.asa_seconds, m.abandon_rate, m.occupancy) == (0, 1, 0, 0, 0)
    c = erlang_c_metrics(11, 100 / 1800, 180.0, threshold=0.0)
    assert c.service_level == pytest.approx(1 - c.p_wait, rel=1e-14)
    assert erlang_c_metrics(11, 100 / 1800, 180.0, threshold=math.inf).service_level == 1.0
    a = erlang_a_metrics(5, 5 / 180, 180.0, 60.0, threshold=0.0)
    assert a.service_level == pytest.approx(1 - a.p_wait, rel=1e-12)
    # with an infinite threshold the service level is the share of calls answered at all
    a = erlang_a_metrics(5, 5 / 180, 180.0, 60.0, threshold=math.inf)
    assert a.service_level == pytest.approx(1 - a.abandon_rate, rel=1e-12)
    # nobody to answer: everybody queues and abandons after its patience
    z = erlang_a_metrics(0, 0.1, 60.0, 30.0)
    assert (z.p_wait, z.abandon_rate, z.service_level, z.asa_seconds) == (1.0, 1.0, 0.0, math.inf)
    assert z.mean_wait_all_seconds == 30.0
    # infinite patience is Erlang C
    assert erlang_a_metrics(11, 100 / 1800, 180.0, math.inf) == erlang_c_metrics(11, 100 / 1800, 180.0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: erlang_b(-1, 1.0),
        lambda: erlang_b(3, -0.1),
        lambda: erlang_b(3, math.nan),
        lambda: erlang_c(2, math.inf),
        lambda: erlang_c_metrics(3, 0.1, 0.0),
        lambda: erlang_c_metrics(3, -0.1, 10.0),
        lambda: erlang_c_metrics(3, 0.1, 10.0, threshold=-1.0),
        lambda: erlang_a_metrics(3, 0.1, 10.0, patience=0.0),
        lambda: agents_for_service_level(0.1, 10.0, 20.0, 1.0),
        lambda: agents_for_service_level(0.1, 10.0, 20.0, 0.0),
        lambda: agents_for_asa(0.1, 10.0, 0.0),
        lambda: agents_for_abandon_rate(0.1, 10.0, 30.0, 1.5),
        lambda: agents_for_service_level(100.0, 100.0, 20.0, 0.8, max_agents=1000),
        lambda: agents_for_abandon_rate(1.0, 100.0, 30.0, 0.01, max_agents=10),
    ],
)
def test_invalid_arguments_raise(call) -> None:
    with pytest.raises(ValueError):
        call()


def test_agents_must_be_an_integer() -> None:
    with pytest.raises(TypeError):
        erlang_b(2.5, 1.0)  # type: ignore[arg-type]
    assert erlang_b(np.int64(10), 5.0) == erlang_b(10, 5.0)


# ---------------------------------------------------------------------------
# Erlang A against first principles and exact identities


@pytest.mark.parametrize(
    ("n", "lam", "aht", "patience", "t"),
    [
        (1, 0.01, 50.0, 200.0, 30.0),
        (3, 1 / 60, 120.0, 90.0, 20.0),
        (5, 5 / 180, 180.0, 60.0, 20.0),
        (4, 0.1, 60.0, 30.0, 15.0),  # overloaded: a = 6 > 4 agents, still stable
        (6, 0.02, 300.0, 600.0, 45.0),
    ],
)
def test_erlang_a_matches_markov_chain(n: int, lam: float, aht: float, patience: float, t: float) -> None:
    ref = markov_reference(n, lam, aht, patience, t)
    m = erlang_a_metrics(n, lam, aht, patience, threshold=t)
    for name in ("p_wait", "abandon_rate", "service_level", "asa_seconds", "mean_wait_all_seconds"):
        assert getattr(m, name) == pytest.approx(ref[name], rel=1e-9), name
    # Little's law for abandonment in M/M/n+M: callers abandon at rate θ per queued
    # caller, so λ P(Ab) = E[queue length] / patience; and Little: λ E[W] = E[queue].
    assert lam * m.abandon_rate == pytest.approx(ref["mean_queue"] / patience, rel=1e-9)
    assert lam * m.mean_wait_all_seconds == pytest.approx(ref["mean_queue"], rel=1e-9)
    # carried load = offered load that is answered
    assert m.occupancy == pytest.approx(lam * aht * (1 - m.abandon_rate) / n, rel=1e-12)


def test_erlang_a_matches_markov_chain_when_heavily_overloaded() -> None:
    # 150 Erlangs on 50 agents with long patience: the queue seen by an arrival peaks
    # ~400 deep, which exercises the incomplete-gamma branch of the implementation.  The
    # offered wait concentrates near log(ρ) * patience ≈ 440 s, so SL(440 s) is non-trivial.
    n, lam, aht, patience, t = 50, 1.5, 100.0, 400.0, 440.0
    ref = markov_reference(n, lam, aht, patience, t, qmax=650)
    m = erlang_a_metrics(n, lam, aht, patience, threshold=t)
    assert m.p_wait == pytest.approx(1.0, abs=1e-12)
    for name in ("abandon_rate", "service_level", "asa_seconds", "mean_wait_all_seconds"):
        assert getattr(m, name) == pytest.approx(ref[name], rel=1e-9), name
    assert m.abandon_rate == pytest.approx(1 - n / (lam * aht), rel=1e-12)  # agents never idle
    assert 0.1 < m.service_level < 0.3


@pytest.mark.parametrize(
    ("n", "lam", "aht", "patience"),
    [(3, 1 / 60, 120.0, 90.0), (10, 0.05, 180.0, 45.0), (40, 0.3, 150.0, 200.0), (8, 0.2, 60.0, 600.0)],
)
def test_erlang_a_mandelbaum_zeltyn_formulas(n: int, lam: float, aht: float, patience: float) -> None:
    # Mandelbaum & Zeltyn, "The M/M/n+G queue: summary of performance measures", M/M/n+M:
    # with x = nμ/θ, y = λ/θ, ρ = λ/(nμ), A = x e^y y^-x γ(x, y), E = Erlang B(n, a):
    #   P(W > 0) = A E / (1 + (A - 1) E),   P(Ab | W > 0) = 1/(ρA) + 1 - 1/ρ.
    x, y = n * patience / aht, lam * patience
    rho = y / x
    big_a = math.exp(special.gammaln(x + 1) + y - x * math.log(y)) * special.gammainc(x, y)
    e = float(exact_erlang_b(n, Fraction(lam * aht)))
    p_wait = big_a * e / (1 + (big_a - 1) * e)
    m = erlang_a_metrics(n, lam, aht, patience, threshold=20.0)
    assert m.p_wait == pytest.approx(p_wait, rel=1e-10)
    assert m.abandon_rate == pytest.approx(p_wait * (1 / (rho * big_a) + 1 - 1 / rho), rel=1e-9)
    # E[W] = P(Ab) / θ
    assert m.mean_wait_all_seconds == pytest.approx(m.abandon_rate * patience, rel=1e-12)


@pytest.mark.parametrize(("n", "a"), [(1, 0.5), (5, 4.0), (12, 15.0), (50, 45.0), (400, 390.0)])
def test_erlang_a_with_patience_equal_to_aht_is_poisson(n: int, a: float) -> None:
    # If θ = μ every caller in the system, served or queued, leaves at the same rate, so
    # the number in system is that of M/M/∞: Poisson(a).  Hence P(W > 0) = P(N >= n) and
    # P(Ab) = θ E[(N - n)^+] / λ = E[(N - n)^+] / a.
    aht = 120.0
    m = erlang_a_metrics(n, a / aht, aht, patience=aht, threshold=10.0)
    assert m.p_wait == pytest.approx(poisson_sf_at_least(n, a), rel=1e-10)
    k = np.arange(n, int(a + 60 * math.sqrt(a) + 100))
    excess = float(((k - n) * poisson_pmf(k, a)).sum())
    assert m.abandon_rate == pytest.approx(excess / a, rel=1e-9)


def test_erlang_a_converges_to_erlang_c_as_patience_grows() -> None:
    lam, aht, t = 100 / 1800, 180.0, 20.0
    c = erlang_c_metrics(11, lam, aht, t)
    previous = math.inf
    for patience in (1e3, 1e4, 1e5, 1e6, 1e7, 1e9):
        a = erlang_a_metrics(11, lam, aht, patience, t)
        gap = max(
            abs(a.p_wait - c.p_wait),
            abs(a.service_level - c.service_level),
            abs(a.asa_seconds - c.asa_seconds) / c.asa_seconds,
            abs(a.mean_wait_all_seconds - c.mean_wait_all_seconds) / c.mean_wait_all_seconds,
            a.abandon_rate,
        )
        assert gap < previous
        assert gap < 1e4 / patience  # the gap closes like 1 / patience
        previous = gap
    assert previous < 1e-5


def test_erlang_a_light_load_has_tiny_wait() -> None:
    m = erlang_a_metrics(50, 5 / 180, 180.0, 60.0)
    assert 0.0 <= m.p_wait < 1e-20
    assert m.service_level == pytest.approx(1.0, abs=1e-20)
    assert m.abandon_rate < 1e-20
    # with abandonment nobody waits more than in the Erlang C queue
    assert m.p_wait <= erlang_c(50, 5.0)


def test_erlang_a_overload_is_stable_and_bounded_by_capacity() -> None:
    # a = 60 Erlangs on 10 agents: at most n / a of the calls can be answered.
    m = erlang_a_metrics(10, 2.0, 30.0, 100.0, threshold=5.0)
    assert_sane(m)
    assert math.isfinite(m.asa_seconds)
    assert m.abandon_rate >= 1 - 10 / 60 - 1e-12
    assert m.abandon_rate == pytest.approx(1 - 10 / 60, rel=1e-9)  # agents never idle
    assert m.occupancy == pytest.approx(1.0, rel=1e-9)


@pytest.mark.parametrize("patience", [None, 30.0, 300.0])
def test_more_agents_never_hurt(patience: float | None) -> None:
    lam, aht = 2.0, 60.0  # 120 Erlangs
    start = 1 if patience else 121
    series = [
        erlang_c_metrics(n, lam, aht, 20.0) if patience is None else erlang_a_metrics(n, lam, aht, patience)
        for n in range(start, 200)
    ]
    for before, after in itertools.pairwise(series):
        assert after.service_level >= before.service_level - 1e-13
        assert after.p_wait <= before.p_wait + 1e-13
        assert after.asa_seconds <= before.asa_seconds * (1 + 1e-12)
        assert after.abandon_rate <= before.abandon_rate + 1e-13
        assert after.mean_wait_all_seconds <= before.mean_wait_all_seconds * (1 + 1e-12)


# ---------------------------------------------------------------------------
# numerical stability and speed


def test_large_erlang_b_against_poisson_ratio() -> None:
    # B(n, a) = P(N = n) / P(N <= n) for N ~ Poisson(a): an independent evaluation.
    for n, a in [(5000, 4900.0), (20000, 19900.0), (3000, 3500.0), (1000, 500.0)]:
        expected = float(poisson_pmf(n, a)) / poisson_cdf(n, a)
        assert erlang_b(n, a) == pytest.approx(expected, rel=1e-9)
    assert erlang_b(10_000, 10.0) == 0.0  # underflows gracefully, no NaN
    assert erlang_b(50, 1e12) == pytest.approx(1 - 50 / 1e12, rel=1e-12)


def test_values_stay_finite_across_sizes_and_loads() -> None:
    sizes = sorted({int(v) for v in np.geomspace(1, 10_000, 24)})
    for n in sizes:
        for factor in (0.5, 0.9, 0.99, 1.0, 1.01, 1.1, 2.0):
            a = n * factor
            b, c = erlang_b(n, a), erlang_c(n, a)
            assert 0.0 <= b <= 1.0 and 0.0 <= c <= 1.0 and b <= c
            assert_sane(erlang_c_metrics(n, a / 100.0, 100.0, 20.0))
            for patience in (50.0, 1000.0):
                m = erlang_a_metrics(n, a / 100.0, 100.0, patience, 20.0)
                assert_sane(m)
                assert math.isfinite(m.asa_seconds) and math.isfinite(m.mean_wait_all_seconds)


def test_thousands_of_agents_are_fast() -> None:
    started = time.perf_counter()
    big = erlang_a_metrics(5000, 4900 / 180, 180.0, 60.0, 20.0)
    c = erlang_c_metrics(5000, 4900 / 180, 180.0, 20.0)
    assert c.p_wait == pytest.approx(
        erlang_b(5000, 4900) / (1 - 0.98 * (1 - erlang_b(5000, 4900))), rel=1e-12
    )
    assert big.p_wait < c.p_wait and big.asa_seconds < c.asa_seconds
    for m in (
        big,
        c,
        erlang_a_metrics(20_000, 19_900 / 300, 300.0, 120.0),
        erlang_a_metrics(20_000, 25_000 / 300, 300.0, 1e5),  # deep overload, huge queue
        erlang_a_metrics(20_000, 19_000 / 300, 300.0, 1e7),
        erlang_c_metrics(20_000, 19_990 / 300, 300.0),
    ):
        assert_sane(m)
    n = agents_for_service_level(19_900 / 300, 300.0, 20.0, 0.9)
    assert erlang_c_metrics(n, 19_900 / 300, 300.0).service_level >= 0.9
    assert erlang_c_metrics(n - 1, 19_900 / 300, 300.0).service_level < 0.9
    assert time.perf_counter() - started < 2.0


# ---------------------------------------------------------------------------
# staffing


@pytest.mark.parametrize(
    ("calls_per_hour", "aht", "threshold", "target"),
    [(100, 180.0, 20.0, 0.8), (1200, 240.0, 20.0, 0.8), (36_000, 300.0, 30.0, 0.9), (30, 600.0, 60.0, 0.95)],
)
def test_agents_for_service_level_is_minimal(
    calls_per_hour: int, aht: float, threshold: float, target: float
) -> None:
    lam = calls_per_hour / 3600
    n = agents_for_service_level(lam, aht, threshold, target)
    assert erlang_c_metrics(n, lam, aht, threshold).service_level >= target
    assert erlang_c_metrics(n - 1, lam, aht, threshold).service_level < target
    for patience in (30.0, 120.0, 900.0):
        m = agents_for_service_level(lam, aht, threshold, target, patience=patience)
        assert m <= n  # abandonment takes load off the queue
        assert erlang_a_metrics(m, lam, aht, patience, threshold).service_level >= target
        assert erlang_a_metrics(m - 1, lam, aht, patience, threshold).service_level < target


@pytest.mark.parametrize("patience", [None, 60.0, 400.0])
def test_agents_for_asa_is_minimal(patience: float | None) -> None:
    lam, aht, target = 1500 / 3600, 200.0, 15.0

    def asa(n: int) -> float:
        if patience is None:
            return erlang_c_metrics(n, lam, aht).asa_seconds
        return erlang_a_metrics(n, lam, aht, patience).asa_seconds

    n = agents_for_asa(lam, aht, target, patience=patience)
    assert asa(n) <= target < asa(n - 1)


def test_agents_for_abandon_rate_is_minimal() -> None:
    lam, aht = 1500 / 3600, 200.0
    for patience, target in [(30.0, 0.05), (120.0, 0.02), (600.0, 0.005)]:
        n = agents_for_abandon_rate(lam, aht, patience, target)
        assert erlang_a_metrics(n, lam, aht, patience).abandon_rate <= target
        assert erlang_a_metrics(n - 1, lam, aht, patience).abandon_rate > target


def test_staffing_without_traffic_needs_nobody() -> None:
    assert agents_for_service_level(0.0, 180.0, 20.0, 0.8) == 0
    assert agents_for_asa(0.0, 180.0, 20.0, patience=60.0) == 0
    assert agents_for_abandon_rate(0.0, 180.0, 60.0, 0.05) == 0


# ---------------------------------------------------------------------------
# property tests

_SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None)


@_SETTINGS
@given(n=st.integers(1, 400), a=st.floats(0.0, 600.0, allow_nan=False))
def test_erlang_b_and_c_properties(n: int, a: float) -> None:
    b, c = erlang_b(n, a), erlang_c(n, a)
    assert 0.0 <= b <= c <= 1.0
    assert erlang_b(n + 1, a) <= b  # one more trunk never blocks more
    assert erlang_c(n + 1, a) <= c
    if a < n:
        assert c == pytest.approx(b / (1 - (a / n) * (1 - b)), rel=1e-12)


@_SETTINGS
@given(
    n=st.integers(1, 300),
    load=st.floats(0.01, 400.0),
    aht=st.floats(5.0, 1200.0),
    patience=st.floats(1.0, 5000.0),
    threshold=st.floats(0.0, 300.0),
)
def test_erlang_a_properties(n: int, load: float, aht: float, patience: float, threshold: float) -> None:
    lam = load / aht
    m = erlang_a_metrics(n, lam, aht, patience, threshold)
    assert_sane(m)
    assert math.isfinite(m.asa_seconds)
    # answered within t <= answered at all; everybody answered at once is within t
    assert m.service_level <= 1 - m.abandon_rate + 1e-12
    assert m.service_level >= 1 - m.p_wait - 1e-12
    assert m.abandon_rate <= m.p_wait + 1e-15
    # capacity: at most n agents' worth of calls is answered
    assert load * (1 - m.abandon_rate) <= n * (1 + 1e-12)
    assert m.mean_wait_all_seconds == pytest.approx(m.abandon_rate * patience, rel=1e-12)
    more = erlang_a_metrics(n + 1, lam, aht, patience, threshold)
    assert more.service_level >= m.service_level - 1e-12
    assert more.abandon_rate <= m.abandon_rate + 1e-12
    assert more.asa_seconds <= m.asa_seconds * (1 + 1e-9) + 1e-12
