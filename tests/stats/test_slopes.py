"""Gauge growth: the t-test Bayes factor is an honest sequential test, slopes are exact."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from rollsafe.stats import GrowthTest, StreamingSlope, slope_bounds, t_bayes_factor_log

ALPHA = 0.05
RUNS = 1000
LIMIT = 50e6 / 3600  # bytes per second


def _limit(alpha: float, runs: int) -> float:
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)


def _series(rng: np.random.Generator, slope: float, seconds: int) -> np.ndarray:
    """A gauge difference: a trend, a random walk and noise on the level (like GC)."""
    walk = np.cumsum(rng.normal(0, 30e3, seconds))
    level = rng.normal(0, 200e3, seconds)
    return slope * np.arange(seconds) + walk + level


def test_bayes_factor_matches_numerical_integration() -> None:
    for n, t in ((2, 1.0), (5, 2.5), (30, -1.7)):
        nu = n - 1

        def integrand(delta: float, n: int = n, t: float = t, nu: int = nu) -> float:
            return float(stats.nct.pdf(t, nu, delta * math.sqrt(n)) * stats.norm.pdf(delta, 0, 1))

        marginal = integrate.quad(integrand, -30, 30)[0]
        expected = math.log(marginal / stats.t.pdf(t, nu))
        assert t_bayes_factor_log(n, t) == pytest.approx(expected, rel=1e-5)
    assert t_bayes_factor_log(1, 3.0) == 0.0


def test_false_failures_at_the_limit_stay_below_alpha() -> None:
    rng = np.random.default_rng(21)
    rejected = 0
    for _ in range(RUNS):
        test = GrowthTest(LIMIT, block=10)
        for t, value in enumerate(_series(rng, LIMIT, 1200).tolist()):
            if test.update(float(t), value) and test.log_e_fail() >= math.log(1 / ALPHA):
                rejected += 1
                break
    assert rejected / RUNS <= _limit(ALPHA, RUNS)


def test_detects_a_leak_ten_times_the_limit_within_minutes() -> None:
    rng = np.random.default_rng(22)
    delays = []
    for _ in range(100):
        test = GrowthTest(LIMIT, block=10)
        for t, value in enumerate(_series(rng, 10 * LIMIT, 1800).tolist()):
            if test.update(float(t), value) and test.log_e_fail() >= math.log(400):
                delays.append(t)
                break
    assert len(delays) >= 95
    assert np.median(delays) <= 300


def test_identical_arms_carry_no_evidence() -> None:
    test = GrowthTest(LIMIT, block=10)
    jitter = np.random.default_rng(25).uniform(0, 0.05, 600)
    for t in range(600):
        test.update(t + float(jitter[t]), 0.0)
    assert test.n >= 50
    assert test.log_e_fail() == 0.0
    assert test.log_e_pass() == 0.0


def test_time_going_backwards_starts_a_new_block() -> None:
    test = GrowthTest(LIMIT, block=10)
    test.update(100.0, 0.0)
    assert not test.update(50.0, 1e9)
    assert test.n == 0
    assert test.update(60.0, 1e9)
    with pytest.raises(ValueError, match="block"):
        GrowthTest(LIMIT, block=0)


def test_slope_bounds_cover_the_true_growth() -> None:
    rng = np.random.default_rng(23)
    missed = 0
    for _ in range(200):
        test = GrowthTest(LIMIT, block=10)
        for t, value in enumerate(_series(rng, 3 * LIMIT, 900).tolist()):
            test.update(float(t), value)
        bounds = slope_bounds(test.state(), ALPHA)
        assert bounds is not None
        missed += not bounds[0] <= 3 * LIMIT <= bounds[1]
    assert missed / 200 <= _limit(ALPHA, 200)
    assert slope_bounds(GrowthTest(LIMIT, 10).state(), ALPHA) is None


def test_streaming_slope_matches_least_squares() -> None:
    rng = np.random.default_rng(24)
    t = np.sort(rng.uniform(1e9, 1e9 + 600, 300))
    y = 1e8 + 5e3 * (t - 1e9) + rng.normal(0, 1e5, 300)
    slope = StreamingSlope()
    for ti, yi in zip(t.tolist(), y.tolist(), strict=True):
        slope.update(ti, yi)
    assert slope.slope == pytest.approx(np.polyfit(t - 1e9, y, 1)[0], rel=1e-6)
    assert StreamingSlope().slope is None
