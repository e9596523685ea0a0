"""The simulator (real router, virtual time) against exact Erlang C / Erlang A, and its CLI.

Tolerances are Monte-Carlo errors from batch means: the measured calls are split, in
arrival order, into 20 consecutive batches; each batch covers many times the queue's
relaxation time, so batch figures are close to independent and
``SE = stdev(batch figures) / sqrt(20)``. A figure passes when it is within 4 SE of the
exact value (plus a small floor for the bias of finite batches). Seeds are fixed, so the
test is deterministic; the SE checks make sure the tolerance stays meaningful.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kefu.analytics.cli import app
from kefu.analytics.wfm.erlang import QueueMetrics, erlang_a_metrics, erlang_c_metrics
from kefu.analytics.wfm.simulate import (
    AgentGroup,
    ArrivalStream,
    Burst,
    Scenario,
    SimulationResult,
    simulate,
)
from kefu.routing import QueueConfig

Z = 4.0


def standard_error(result: SimulationResult, key: str) -> float:
    values = [b[key] for b in result.batches if b[key] is not None]
    assert len(values) == 20
    return statistics.stdev(values) / math.sqrt(len(values))


def assert_agrees(result: SimulationResult, exact: QueueMetrics, key: str, floor: float, max_se: float) -> None:
    """``max_se`` is absolute for ratios; for seconds it is relative to the exact value."""
    se = standard_error(result, key)
    measured = getattr(result, key)
    expected = getattr(exact, key)
    limit = max_se * expected if key.endswith("seconds") else max_se
    assert se < limit, f"{key}: SE {se:.4f} too large for a meaningful test"
    assert abs(measured - expected) <= Z * se + floor, (
        f"{key}: simulated {measured:.4f} vs exact {expected:.4f} (SE {se:.4f})"
    )


def test_single_queue_matches_erlang_c() -> None:
    # 8 Erlangs on 10 agents (occupancy 0.8), no abandonment
    rate_per_min, aht, agents = 4.0, 120.0, 10
    scenario = Scenario.single_queue(arrival_rate_per_min=rate_per_min, aht_s=aht, agents=agents)
    result = simulate(scenario, 60_000, seed=11, warmup=2_000)
    exact = erlang_c_metrics(agents, rate_per_min / 60, aht, 20.0)
    assert result.abandoned == 0 and result.answered == result.offered == 58_000
    assert_agrees(result, exact, "service_level", 0.005, 0.02)
    assert_agrees(result, exact, "p_wait", 0.005, 0.02)
    assert_agrees(result, exact, "asa_seconds", 0.5, 0.15)
    assert abs(result.occupancy - exact.occupancy) < 0.02


def test_single_queue_with_patience_matches_erlang_a() -> None:
    # 12 Erlangs on 11 agents: overloaded without abandonment, stable with it
    rate_per_min, aht, agents, patience = 6.0, 120.0, 11, 60.0
    scenario = Scenario.single_queue(arrival_rate_per_min=rate_per_min, aht_s=aht, agents=agents, patience_s=patience)
    result = simulate(scenario, 60_000, seed=12, warmup=2_000)
    exact = erlang_a_metrics(agents, rate_per_min / 60, aht, patience, 20.0)
    assert result.abandoned > 0
    assert_agrees(result, exact, "service_level", 0.005, 0.02)
    assert_agrees(result, exact, "p_wait", 0.005, 0.02)
    assert_agrees(result, exact, "abandon_rate", 0.003, 0.01)
    assert_agrees(result, exact, "asa_seconds", 0.5, 0.15)
    assert_agrees(result, exact, "mean_wait_all_seconds", 0.5, 0.15)
    assert abs(result.occupancy - exact.occupancy) < 0.02


def test_same_seed_same_result_and_lognormal_runs() -> None:
    scenario = Scenario.single_queue(
        arrival_rate_per_min=3, aht_s=200, agents=12, patience_s=90, handle_dist="lognormal", handle_cv=0.5
    )
    a = simulate(scenario, 3_000, seed=5)
    b = simulate(scenario, 3_000, seed=5)
    c = simulate(scenario, 3_000, seed=6)
    strip = {"wall_seconds", "cpu_seconds", "calls_per_second"}
    assert {k: v for k, v in a.to_dict().items() if k not in strip} == {
        k: v for k, v in b.to_dict().items() if k not in strip
    }
    assert a.service_level != c.service_level
    assert a.offered == 2_700 and a.warmup == 300


def test_burst_raises_the_load() -> None:
    calm = Scenario.single_queue(arrival_rate_per_min=3, aht_s=120, agents=10)  # 6 Erlangs
    surge = calm.with_overrides(burst=Burst(1.5, 0.0, 1e9))  # 9 Erlangs, all the time
    quiet = simulate(calm, 4_000, seed=3)
    busy = simulate(surge, 4_000, seed=3)
    assert busy.sim_seconds < quiet.sim_seconds * 0.75
    assert busy.p_wait > quiet.p_wait and busy.asa_seconds > quiet.asa_seconds


def test_multi_queue_scenario_through_policies() -> None:
    scenario = Scenario.from_dict(
        {
            "queues": [
                {"id": "billing", "eligibility": "billing>=1", "sl_threshold_s": 30},
                {"id": "general", "mode": "round_robin"},
            ],
            "policies": [
                {
                    "id": "vip",
                    "steps": [
                        {"queue_id": "billing", "priority": 5, "requirements": "billing>=2", "expires_after_s": 20},
                        {"queue_id": "billing", "priority": 5},
                    ],
                }
            ],
            "agents": [
                {"count": 4, "skills": {"billing": 5}, "prefix": "senior"},
                {"count": 6, "skills": {"billing": 2}, "prefix": "junior"},
                {"count": 5, "prefix": "generalist"},
            ],
            "streams": [
                {"queue_id": "billing", "rate_per_min": 2, "aht_s": 180, "patience_s": 120},
                {"policy_id": "vip", "rate_per_min": 0.5, "aht_s": 240, "patience_s": 300},
                {"queue_id": "general", "rate_per_min": 1.5, "aht_s": 150, "handle_dist": "lognormal"},
            ],
        }
    )
    result = simulate(scenario, 5_000, seed=2)
    assert set(result.per_stream) == {"billing", "policy:vip", "general"}
    assert sum(s["offered"] for s in result.per_stream.values()) == result.offered == 4_500
    vip = result.per_stream["policy:vip"]
    assert vip["asa_seconds"] < result.per_stream["billing"]["asa_seconds"]  # priority 5 goes first
    assert result.agents == 15


def test_scenario_validation() -> None:
    with pytest.raises(ValueError):
        ArrivalStream(rate_per_min=1, aht_s=60)  # no target
    with pytest.raises(ValueError):
        ArrivalStream(rate_per_min=0, aht_s=60, queue_id="q")
    with pytest.raises(ValueError):
        Scenario(queues=(QueueConfig("q"),), agents=(AgentGroup(1),), streams=())
    with pytest.raises(ValueError):
        simulate(Scenario.single_queue(arrival_rate_per_min=1, aht_s=60, agents=1), 10, warmup=10)


# --- CLI ---------------------------------------------------------------------------------

runner = CliRunner()
REQUIRED = {
    "offered",
    "answered",
    "abandoned",
    "service_level",
    "p_wait",
    "asa_seconds",
    "abandon_rate",
    "occupancy",
    "wall_seconds",
}


def test_cli_json_has_the_figures() -> None:
    result = runner.invoke(
        app,
        [
            "simulate",
            "--arrival-rate",
            "4",
            "--aht",
            "120",
            "--agents",
            "10",
            "--calls",
            "2000",
            "--seed",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= REQUIRED
    assert data["offered"] == 1800 and data["abandoned"] == 0
    assert data["model"] == "Erlang C"
    assert 0 < data["service_level"] <= 1


def test_cli_with_patience_and_options() -> None:
    args = [
        "simulate",
        "--arrival-rate=6",
        "--aht=120",
        "--agents=11",
        "--patience=60",
        "--sl-threshold=30",
        "--calls=1500",
        "--warmup=100",
        "--handle-dist=lognormal",
        "--ring-delay=2",
        "--profile=1,2",
        "--burst=2@10-20",
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["model"] == "Erlang A" and data["warmup"] == 100 and data["abandoned"] > 0


def test_cli_table_shows_erlang_side_by_side() -> None:
    result = runner.invoke(
        app, ["simulate", "--arrival-rate", "4", "--aht", "120", "--agents", "10", "--calls", "1000"]
    )
    assert result.exit_code == 0, result.output
    assert "Erlang C" in result.output and "service_level" in result.output


def test_cli_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "center.json"
    path.write_text(
        json.dumps(
            {
                "queues": [{"id": "a", "eligibility": "a>=1"}, {"id": "b"}],
                "agents": [{"count": 3, "skills": {"a": 2}}, {"count": 2, "prefix": "b"}],
                "streams": [
                    {"queue_id": "a", "rate_per_min": 1, "aht_s": 100},
                    {"queue_id": "b", "rate_per_min": 1, "aht_s": 100, "patience_s": 60},
                ],
            }
        )
    )
    result = runner.invoke(app, ["simulate", "--scenario", str(path), "--calls", "800", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["per_stream"]) == {"a", "b"} and "model" not in data


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--arrival-rate", "4", "--agents", "0"], "--agents"),
        (["--arrival-rate", "-3"], "--arrival-rate"),
        (["--arrival-rate", "abc"], "--arrival-rate"),
        (["--arrival-rate", "4", "--handle-dist", "uniform"], "--handle-dist"),
        (["--arrival-rate", "4", "--calls", "0"], "--calls"),
        (["--arrival-rate", "4", "--patience", "0"], "--patience"),
        (["--arrival-rate", "4", "--calls", "100", "--warmup", "100"], "--warmup"),
        (["--arrival-rate", "4", "--burst", "lots"], "--burst"),
        (["--arrival-rate", "4", "--profile", "1,x"], "--profile"),
        (["--aht", "100"], "--arrival-rate"),
        (["--arrival-rate", "4", "--bogus"], "--bogus"),
        (["--scenario", "/nonexistent/center.json"], "--scenario"),
    ],
)
def test_cli_bad_flags_exit_2(args: list[str], complaint: str) -> None:
    result = runner.invoke(app, ["simulate", *args])
    assert result.exit_code == 2, result.output
    assert complaint in result.output


def test_cli_scenario_conflicts_and_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"queues": [], "agents": [], "streams": []}))
    result = runner.invoke(app, ["simulate", "--scenario", str(path)])
    assert result.exit_code == 2 and "invalid scenario" in result.output
    result = runner.invoke(app, ["simulate", "--scenario", str(path), "--arrival-rate", "3"])
    assert result.exit_code == 2 and "cannot be combined" in result.output
