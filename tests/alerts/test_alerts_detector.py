"""The streaming detector: firing, growth, cool-down, hierarchy de-dup, baselines, persistence."""

from __future__ import annotations

import json
import math
import random

import pytest

from kefu.alerts import AlertUpdate, Detector, DetectorConfig
from kefu.alerts.rules import critical_count, nb_tail, split_path, tail_score

START = 1_767_571_200.0  # 2026-01-05 00:00 UTC, a Monday
DAY = 86400.0
NET = ("网络质量", "信号弱")
NET2 = ("网络质量", "无法上网")
BILL = ("收费争议", "增值业务")


def area(district: int, compound: int) -> tuple[str, ...]:
    return ("广东省", "深圳市", f"区{district}", f"小区{district}-{compound}")


def _profile(t: float) -> float:
    """Daily shape, mean ~1: quiet nights, busy days."""
    h = (t % DAY) / 3600.0
    return 0.2 if h < 7 else 1.5 if h < 22 else 0.6


def poisson(rates: dict[tuple[tuple[str, ...], tuple[str, ...]], float], t0: float, days: float, seed: int):
    """Complaints with the given daily rates and a daily profile, sorted by time."""
    rng = random.Random(seed)
    out = []
    for (a, c), per_day in sorted(rates.items()):
        lam = per_day * 1.5 / DAY
        t = t0
        while True:
            t += rng.expovariate(lam)
            if t >= t0 + days * DAY:
                break
            if rng.random() * 1.5 <= _profile(t):
                out.append((t, a, c))
    out.sort(key=lambda e: e[0])
    return out


def town(n_districts: int = 4, per_district: int = 10, rate: float = 0.3):
    """A quiet town: every compound ~``rate`` complaints a day over three categories."""
    rates = {}
    for d in range(n_districts):
        for k in range(per_district):
            rates[(area(d, k), NET)] = rate * 0.5
            rates[(area(d, k), NET2)] = rate * 0.2
            rates[(area(d, k), BILL)] = rate * 0.3
    return rates


def trained(days: float = 21, seed: int = 1, **cfg) -> tuple[Detector, float]:
    det = Detector(DetectorConfig(**cfg))
    history = poisson(town(), START, days, seed)
    det.fit_baseline(history)
    return det, START + days * DAY


def feed(det: Detector, events) -> list[AlertUpdate]:
    out: list[AlertUpdate] = []
    for t, a, c in sorted(events, key=lambda e: e[0]):
        out.extend(det.observe(t, a, c))
    return out


def burst(t0: float, a, c=NET, n: int = 8, spacing: float = 150.0):
    return [(t0 + i * spacing, a, c) for i in range(n)]


def test_burst_in_quiet_compound_fires_once_then_grows():
    det, t = trained()
    t0 = t + 14 * 3600  # 14:00, a busy hour
    ups = feed(det, burst(t0, area(1, 3)))
    new = [u for u in ups if u.kind == "new"]
    assert len(new) == 1
    a = new[0]
    assert a.area == area(1, 3)
    assert a.category in (NET, NET[:1])
    # Fires at the 3rd complaint (count 3) — 5 minutes after the first.
    assert a.count == 3
    assert a.detected_at == t0 + 2 * 150.0
    assert a.start == pytest.approx(t0, abs=1e-3)
    assert a.expected < 0.05
    assert a.score >= det.config.threshold
    grows = [u for u in ups if u.kind == "grow"]
    assert [u.alert_id for u in grows] == [a.alert_id] * 5
    assert [u.count for u in grows] == [4, 5, 6, 7, 8]
    assert all(g.score >= a.score for g in grows)
    assert grows[-1].last_seen == t0 + 7 * 150.0
    assert grows[-1].expected > a.expected
    assert [x.alert_id for x in det.open_alerts()] == [a.alert_id]


def test_two_complaints_never_fire():
    det, t = trained()
    assert feed(det, burst(t + 14 * 3600, area(2, 1), n=2, spacing=10.0)) == []


def test_cooldown_absorbs_a_second_wave_then_allows_a_new_alert():
    det, t = trained(cooldown=6 * 3600.0)
    t0 = t + 10 * 3600
    first = feed(det, burst(t0, area(0, 5)))
    again = feed(det, burst(t0 + 2 * 3600, area(0, 5)))  # within the cool-down
    assert [u.kind for u in first].count("new") == 1
    assert all(u.kind == "grow" for u in again) and again
    assert {u.alert_id for u in again} == {first[0].alert_id}
    assert again[-1].count == 16
    later = feed(det, burst(t0 + 3 * DAY, area(0, 5)))  # long after: a new alert
    new = [u for u in later if u.kind == "new"]
    assert len(new) == 1 and new[0].alert_id != first[0].alert_id
    assert det.close_expired(t0 + 30 * DAY) == 1
    assert det.open_alerts() == []


def test_compound_burst_raises_no_district_or_city_alert():
    det, t = trained()
    ups = feed(det, burst(t + 15 * 3600, area(3, 2), n=20, spacing=60.0))
    new = [u for u in ups if u.kind == "new"]
    assert len(new) == 1
    assert new[0].area == area(3, 2)
    # The parents were surprising too, and are folded into the compound's alert.
    folded_areas = {f[0] for u in ups for f in u.folded}
    assert area(3, 2)[:3] in folded_areas


def test_mixed_categories_in_one_compound_are_one_alert():
    det, t = trained()
    t0 = t + 11 * 3600
    events = burst(t0, area(2, 4), NET, n=4, spacing=200.0) + burst(t0 + 100, area(2, 4), NET2, n=4, spacing=200.0)
    ups = feed(det, events)
    assert [u.kind for u in ups].count("new") == 1
    assert len({u.alert_id for u in ups}) == 1
    assert ups[-1].area == area(2, 4)
    assert ups[-1].count >= 7


def test_district_wide_spread_is_reported_on_the_district():
    det, t = trained()
    t0 = t + 16 * 3600
    # One complaint from each of 8 compounds of district 1 within 16 minutes: no compound is
    # unusual, the district is.
    events = [(t0 + i * 120.0, area(1, i), NET) for i in range(8)]
    ups = feed(det, events)
    new = [u for u in ups if u.kind == "new"]
    assert len(new) == 1
    assert new[0].area == area(1, 0)[:3]
    assert new[0].category[0] == NET[0]


def test_busy_compound_with_a_proportionally_larger_count_does_not_fire():
    rates = town()
    busy = area(0, 0)
    rates[(busy, NET)] = 60.0  # a busy compound: ~2.5 complaints an hour, more by day
    det = Detector()
    det.fit_baseline(poisson(rates, START, 21, seed=3))
    t0 = START + 21 * DAY + 14 * 3600
    # Five complaints in 30 minutes: ordinary for the busy compound, a fault for a quiet one.
    five = [(t0 + i * 360.0, busy, NET) for i in range(5)]
    assert [u for u in feed(det, five) if u.kind == "new"] == []
    quiet = [(t0 + 3600 + i * 360.0, area(2, 2), NET) for i in range(5)]
    assert [u.area for u in feed(det, quiet) if u.kind == "new"] == [area(2, 2)]


def test_baseline_learning_shifts_expectations():
    det = Detector()
    a, c = area(0, 1), NET
    det.fit_baseline(poisson({(a, c): 0.5, (area(0, 2), c): 0.5}, START, 28, seed=5))
    low = det.expected(a, c, 3600.0, at=START + 28 * DAY + 14 * 3600)
    assert 0.005 < low < 0.1  # ~0.5/day: ~0.03 an hour by day
    det.fit_baseline(poisson({(a, c): 20.0, (area(0, 2), c): 0.5}, START + 28 * DAY, 28, seed=6))
    high = det.expected(a, c, 3600.0, at=START + 56 * DAY + 14 * 3600)
    assert high > 10 * low
    # The seasonal profile is learned too: nights expect fewer complaints than afternoons.
    night = det.expected(a, c, 3600.0, at=START + 56 * DAY + 3 * 3600)
    assert night < 0.5 * high
    # An unseen compound borrows from its district (about an average sibling).
    new = det.expected(area(0, 9), c, 3600.0, at=START + 56 * DAY + 14 * 3600)
    assert 0 < new < high


def test_warmup_suppresses_alerts():
    det = Detector(DetectorConfig(warmup=DAY))
    ups = feed(det, burst(START + 3600, area(0, 0), n=10, spacing=30.0))
    assert ups == []


def test_strings_and_tuples_are_the_same_cells():
    det, t = trained()
    t0 = t + 14 * 3600
    ups = []
    for i in range(5):
        a = "/".join(area(1, 1)) if i % 2 else area(1, 1)
        c = " > ".join(NET) if i % 2 else NET
        ups += det.observe(t0 + i * 60, a, c)
    assert [u.kind for u in ups][:1] == ["new"]
    assert ups[-1].count == 5 and ups[-1].area == area(1, 1)


def test_snapshot_restore_round_trip_gives_identical_output():
    rates = town()
    history = poisson(rates, START, 14, seed=7)
    later = poisson(rates, START + 14 * DAY, 3, seed=8)
    t0 = START + 14 * DAY + 13 * 3600
    later += burst(t0, area(3, 3), n=10, spacing=120.0) + burst(t0 + DAY, area(0, 8), BILL, n=6)
    later.sort(key=lambda e: e[0])
    cut = next(i for i, e in enumerate(later) if e[0] > t0 + 500)  # mid-burst: an alert is open
    a = Detector()
    a.fit_baseline(history)
    feed(a, later[:cut])
    assert a.open_alerts()
    snap = json.loads(json.dumps(a.snapshot()))
    b = Detector.restore(snap)
    out_a = feed(a, later[cut:])
    out_b = feed(b, later[cut:])
    assert out_a == out_b
    assert any(u.kind == "new" for u in out_a) and any(u.kind == "grow" for u in out_a)
    assert a.snapshot() == b.snapshot()


def test_restore_rejects_unknown_versions():
    with pytest.raises(ValueError):
        Detector.restore({"version": 99})


def test_config_validation_and_round_trip():
    with pytest.raises(ValueError):
        DetectorConfig(windows=(1800.0, 900.0))
    with pytest.raises(ValueError):
        DetectorConfig(cooldown=60.0)
    with pytest.raises(ValueError):
        DetectorConfig(min_count=0)
    cfg = DetectorConfig(threshold=6.5, windows=(600.0, 3600.0))
    assert DetectorConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    daily = DetectorConfig.daily(threshold=4.0)
    assert daily.bucket_seconds == DAY and daily.threshold == 4.0


def test_daily_mode_detects_a_day_with_many_complaints():
    det = Detector(DetectorConfig.daily())
    rng = random.Random(11)
    events = []
    for day in range(40):
        for code in ("100081", "100082", "100083", "200001"):
            for _ in range(rng.choice([0, 0, 0, 1])):
                events.append((START + day * DAY, (code,), ("投诉",)))
    events += [(START + 35 * DAY, ("100082",), ("投诉",))] * 10
    events.sort(key=lambda e: e[0])
    new = [u for u in feed(det, events) if u.kind == "new"]
    assert [(u.area, u.detected_at) for u in new] == [(("100082",), START + 35 * DAY)]
    assert new[0].start == START + 35 * DAY


# ----------------------------------------------------------------------------- statistics


def _nb_sf_by_sum(k: int, mu: float, size: float) -> float:
    """P(X >= k) for NB(mean mu, size), summing the pmf directly (no scipy)."""
    p = size / (size + mu)
    below = sum(
        math.exp(
            math.lgamma(j + size) - math.lgamma(size) - math.lgamma(j + 1) + size * math.log(p) + j * math.log1p(-p)
        )
        for j in range(k)
    )
    return 1.0 - below


def test_nb_tail_matches_direct_sums_and_poisson_limit():
    for k, mu, size in [(3, 0.02, 5.0), (10, 4.0, 2.5), (40, 20.0, 8.0), (1, 0.5, 1.0)]:
        assert nb_tail(k, mu, size) == pytest.approx(_nb_sf_by_sum(k, mu, size), rel=1e-6, abs=1e-15)
    poisson_sf = 1.0 - sum(math.exp(-2.0) * 2.0**j / math.factorial(j) for j in range(5))
    assert nb_tail(5, 2.0) == pytest.approx(poisson_sf, rel=1e-12)
    assert nb_tail(5, 2.0, 1e15) == pytest.approx(poisson_sf, rel=1e-12)
    assert nb_tail(0, 1.0) == 1.0 and nb_tail(3, 0.0) == 0.0
    # Tiny tails keep their precision (no 1 - cdf cancellation) and never become inf.
    assert tail_score(3, 1e-4) == pytest.approx(-math.log10(1e-12 / 6), rel=1e-3)
    assert tail_score(400, 1.0) > 290
    assert math.isfinite(tail_score(10_000, 0.5, 3.0))


def test_critical_count_is_a_conservative_lower_bound():
    rng = random.Random(2)
    for _ in range(300):
        mu = math.exp(rng.uniform(math.log(1e-4), math.log(500)))
        size = rng.choice([math.inf, rng.uniform(0.5, 20.0)])
        score = rng.uniform(2.0, 8.0)
        k = critical_count(mu, size, score)
        assert tail_score(k - 1, mu, size) < score if k > 1 else True
        exact = next(j for j in range(1, 100_000) if tail_score(j, mu, size) >= score)
        assert k <= exact
        assert k >= 0.85 * exact - 2  # and tight (grid steps: ~5 % in the mean, ~13 % in the size)


def test_split_path():
    assert split_path("广东省/深圳市 / 南山区//桃源小区") == ("广东省", "深圳市", "南山区", "桃源小区")
    assert split_path("A > B>C") == ("A", "B", "C")
    assert split_path("网络质量／信号弱") == ("网络质量", "信号弱")
    assert split_path("  ") == ()
    assert split_path(["a ", "", "b"]) == ("a", "b")
    assert split_path(("x", "y")) == ("x", "y")


def test_observe_many_equals_observe():
    rates = town()
    events = poisson(rates, START, 10, seed=12)
    t0 = START + 8 * DAY + 15 * 3600
    events += burst(t0, area(1, 1), n=12, spacing=90.0) + burst(t0 + 3 * 3600, area(2, 5), BILL, n=6)
    events.sort(key=lambda e: e[0])
    one = Detector()
    by_one = feed(one, events)
    many = Detector()
    by_many = many.observe_many(events)
    assert by_one == by_many
    assert [u.kind for u in by_many].count("new") == 2
    assert one.snapshot() == many.snapshot()
