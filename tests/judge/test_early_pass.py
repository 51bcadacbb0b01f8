"""Early pass: anytime-valid under repeated looks, and reachable for a healthy canary.

Seeded simulations, errors only, a look after every batch of requests: a canary
exactly at the early-pass margin passes early in at most alpha of the runs
(plus binomial slack), however often the judge looks, while a healthy canary
passes early in most runs. alpha is large here (0.2) so that a broken bound
would show in a few hundred runs.
"""

from __future__ import annotations

import math

import numpy as np

from rollsafe.config.analysis import AnalysisConfig, RatioMetric
from rollsafe.config.early_pass import EarlyPass
from rollsafe.judge import Judge
from rollsafe.judge.noninferiority import rate_comparison

ALPHA = 0.2
CONFIG = AnalysisConfig(
    alpha=ALPHA,
    metrics=[RatioMetric()],
    max_error_rate=0.5,
    min_requests=0,
    early_pass=EarlyPass(
        error_margin=0.02, error_relative_margin=0.0, min_requests=100, min_duration=5.0
    ),
)
BASELINE = 0.05


def run(canary_rate: float, seed: int, looks: int = 150, per_look: int = 100) -> float | None:
    """The t of a pass (early, or the judge's strict sequential one), else None."""
    rng = np.random.default_rng(seed)
    judge = Judge(CONFIG)
    totals = {"canary": [0, 0], "baseline": [0, 0]}
    for t in range(looks):
        for arm, rate in (("canary", canary_rate), ("baseline", BASELINE)):
            counts = totals[arm]
            counts[0] += per_look
            counts[1] += int(rng.binomial(per_look, rate))
            verdict = judge.update(
                {"t": float(t), "arm": arm, "requests": counts[0], "errors": counts[1]}
            )
        if verdict.decided_at is not None:
            return verdict.decided_at if verdict.verdict == "pass" else None
    return None


def slack(runs: int) -> float:
    return 3 * math.sqrt(ALPHA * (1 - ALPHA) / runs)


def test_a_canary_at_the_margin_passes_early_in_at_most_alpha_of_runs() -> None:
    runs = 250
    passes = sum(run(BASELINE + 0.02, seed) is not None for seed in range(runs))
    assert passes / runs <= ALPHA + slack(runs)


def test_a_canary_beyond_the_margin_passes_early_less_often_still() -> None:
    runs = 100
    passes = sum(run(BASELINE + 0.03, 10_000 + seed) is not None for seed in range(runs))
    assert passes / runs <= ALPHA + slack(runs)


def test_a_healthy_canary_passes_early_in_most_runs_and_never_before_the_floor() -> None:
    times = [run(BASELINE, 20_000 + seed, looks=300) for seed in range(40)]
    passed = [t for t in times if t is not None]
    assert len(passed) >= 0.8 * len(times)
    # min_duration 5 s after the first look at t=0, and 100 requests per arm.
    assert min(passed) >= 5.0
    assert np.median(passed) < 200


def test_a_fixed_n_interval_looked_at_repeatedly_would_not_be_valid() -> None:
    """Why the confidence sequence matters: a normal interval at the same level, checked
    at every look, passes the at-margin canary far more often than alpha."""
    rng = np.random.default_rng(7)
    z = 0.8416  # one-sided 80%
    runs, naive = 200, 0
    for _ in range(runs):
        x_c = x_b = n = 0
        for _look in range(150):
            n += 100
            x_c += int(rng.binomial(100, BASELINE + 0.02))
            x_b += int(rng.binomial(100, BASELINE))
            p_c, p_b = x_c / n, x_b / n
            se = math.sqrt((p_c * (1 - p_c) + p_b * (1 - p_b)) / n)
            if n >= 500 and p_c - p_b + z * se <= 0.02:
                naive += 1
                break
    assert naive / runs > ALPHA + slack(runs)


def test_the_comparison_reports_its_bound_and_margin() -> None:
    comparison = rate_comparison("error_rate", "diff", 10, 10_000, 12, 10_000, 0.2, 0.005, 0.01)
    assert comparison is not None
    assert comparison.passed
    assert 0 < comparison.upper <= comparison.margin == 0.005
    # Far worse: the screen rules it out before any exact bound is computed.
    assert rate_comparison("error_rate", "diff", 900, 10_000, 10, 10_000, 0.2, 0.005, 0.01) is None


def test_early_pass_can_be_turned_off() -> None:
    config = CONFIG.model_copy(update={"early_pass": EarlyPass(enabled=False)})
    judge = Judge(config)
    for t in range(100):
        for arm in ("canary", "baseline"):
            verdict = judge.update({"t": float(t), "arm": arm, "requests": 1000 * t, "errors": 0})
    assert verdict.early_pass is None
