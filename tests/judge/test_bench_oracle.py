"""The benchmark's oracle: Wald's SPRT with the true rates, the floor every judge is held to."""

from __future__ import annotations

import math
import statistics

from bench.judge.runner import MARGIN, ORACLE_ALPHA, run_all
from bench.judge.simulator import Scenario, simulate


def _kl(p: float, q: float) -> float:
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def test_the_oracle_detects_in_walds_expected_time() -> None:
    # Canary at 10% of 100 req/s, errors 1% -> 5%: Wald's approximation of the SPRT's
    # expected sample size is log(1/alpha) / KL(5% || 1%) requests.
    scenario = Scenario("x5", False, rps=50.0, share=0.1, canary_error_rate=0.05)
    expected = math.log(1 / ORACLE_ALPHA) / _kl(0.05, 0.01) / 10
    delays = []
    for seed in range(30):
        oracle = run_all(scenario, 600, seed)[0]
        assert oracle.judge == "oracle"
        assert oracle.rolled_back
        assert oracle.seconds is not None
        delays.append(oracle.seconds)
    assert 0.5 * expected <= statistics.median(delays) <= 2 * expected


def test_the_oracle_has_no_evidence_on_a_healthy_run() -> None:
    run = simulate(Scenario("A/A", True, noise=True, incidents=True), 600, 3)
    assert not run.oracle.any()
    assert not run_all(Scenario("A/A", True), 600, 3)[0].rolled_back


def test_the_two_arm_floor_detects_in_walds_expected_time() -> None:
    # The same cell for the SPRT on the canary's share of the errors, whose null is the
    # canary at MARGIN times the baseline's rate: per error the canary's share is
    # Bernoulli(pi1) against Bernoulli(pi0), with the arms' request ratio s = 1/9.
    scenario = Scenario("x5", False, rps=50.0, share=0.1, canary_error_rate=0.05)
    s = 1 / 9
    pi1, pi0 = s * 5 / (1 + s * 5), s * MARGIN / (1 + s * MARGIN)
    errors_per_second = 10 * 0.05 + 90 * 0.01
    expected = math.log(1 / ORACLE_ALPHA) / _kl(pi1, pi0) / errors_per_second
    oracle_delays, floor_delays = [], []
    for seed in range(30):
        oracle, floor = run_all(scenario, 600, seed)[:2]
        assert floor.judge == "two-arm"
        assert floor.rolled_back
        assert oracle.seconds is not None
        assert floor.seconds is not None
        oracle_delays.append(oracle.seconds)
        floor_delays.append(floor.seconds)
    assert 0.5 * expected <= statistics.median(floor_delays) <= 2 * expected
    # Learning the healthy rate from the baseline costs time: the floor is above the oracle.
    assert statistics.median(floor_delays) > statistics.median(oracle_delays)


def test_the_two_arm_floor_is_not_run_where_it_models_nothing() -> None:
    for scenario in (Scenario("A/A", True), Scenario("slow", False, median_factor=1.2)):
        floor = run_all(scenario, 120, 1)[1]
        assert floor.judge == "two-arm"
        assert not floor.rolled_back
        assert floor.seconds is None
