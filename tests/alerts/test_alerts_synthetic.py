"""The synthetic stream generator and the detector's recall / false alerts on it."""

from __future__ import annotations

import time

from kefu.alerts import AlertUpdate, Detector
from kefu.alerts.synthetic import evaluate, generate, seasonal_profile


def test_generator_is_deterministic_and_well_formed():
    a = generate(120, 10, seed=3, warmup_days=5)
    b = generate(120, 10, seed=3, warmup_days=5)
    c = generate(120, 10, seed=4, warmup_days=5)
    assert a.events == b.events and a.bursts == b.bursts
    assert a.events != c.events
    times = [e[0] for e in a.events]
    assert times == sorted(times)
    assert len(a.events) == len(a.background) + sum(x.size for x in a.bursts)
    assert {len(e[1]) for e in a.events} == {4} and {len(e[2]) for e in a.events} == {2}
    assert a.area_days == 120 * 10
    for burst in a.bursts:
        assert burst.start >= a.measure_start and burst.end <= a.end
        assert 5 <= burst.size <= 30
        assert burst.third == burst.times[2]
        assert burst.qualifying == (burst.max_in_30min >= 5 and burst.area_rate_per_day <= 1.0)
        assert all(c[: len(burst.category)] == burst.category for c in burst.categories)
    rates = sorted(a.area_rate_per_day.values())
    assert rates[len(rates) // 2] <= 1.0 < rates[-1]  # mostly quiet, some busier
    prof = seasonal_profile()
    assert abs(prof.mean() - 1) < 1e-12 and prof.max() / prof.min() > 5


def test_evaluate_matches_bursts_hierarchically():
    s = generate(60, 5, seed=2, warmup_days=2, bursts_per_1000_area_days=10)
    b = next(x for x in s.bursts if x.qualifying)

    def upd(kind, area, cat, t):
        return AlertUpdate("x", kind, area, cat, t, t, t, 3, 0.1, 6.0, 900.0)

    hit = upd("new", b.area[:3], b.category[:1], b.third + 60)  # district × root: related
    late = upd("new", b.area, b.category, b.end + 5 * 3600)  # long after: a false alert
    other = upd("new", ("elsewhere",), b.category, b.third)  # unrelated area: false
    ev = evaluate(s, [hit, late, other])
    assert ev.detected_in_time == 1 and ev.delays == [60.0]
    assert ev.false_alerts == 2 and ev.alerts == 3
    assert ev.recall == 1 / ev.qualifying


def test_recall_and_false_alerts_on_a_small_stream():
    started = time.process_time()
    s = generate(400, 45, seed=11, warmup_days=21, bursts_per_1000_area_days=6)
    det = Detector()
    ev = evaluate(s, det.observe_many(s.events))
    quiet = Detector()
    ev_bg = evaluate(s, quiet.observe_many(s.background))
    assert ev.qualifying >= 60
    assert ev.recall >= 0.95
    assert ev.delay_quantile(0.95) <= 900.0
    assert ev.false_per_1000_area_days <= 1.0
    assert ev_bg.false_per_1000_area_days <= 1.0
    assert ev_bg.alerts >= 1  # the test can see false alerts at all
    assert time.process_time() - started < 10.0
