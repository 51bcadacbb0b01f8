"""Gauge growth: the t-test Bayes factor is the one its formula claims, slopes are exact.

The sequential validity of the growth test built on it is simulated in
tests/judge/test_leaks.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from rollsafe.stats import (
    PairedSlopes,
    StreamingSlope,
    regression_bayes_factor_log,
    t_bayes_factor_log,
)


def test_bayes_factor_matches_numerical_integration() -> None:
    for n, t in ((2, 1.0), (5, 2.5), (30, -1.7)):
        nu = n - 1

        def integrand(delta: float, n: int = n, t: float = t, nu: int = nu) -> float:
            return float(stats.nct.pdf(t, nu, delta * math.sqrt(n)) * stats.norm.pdf(delta, 0, 1))

        marginal = integrate.quad(integrand, -30, 30)[0]
        expected = math.log(marginal / stats.t.pdf(t, nu))
        assert t_bayes_factor_log(n, t) == pytest.approx(expected, rel=1e-5)
    assert t_bayes_factor_log(1, 3.0) == 0.0


def test_regression_bayes_factor_matches_numerical_integration() -> None:
    # The slope's t-statistic is noncentral t with noncentrality delta * sqrt(information).
    for df, information, t, prior_sd in (
        (1, 3.5, 2.0, 1.0),
        (4, 40.0, -3.1, 1.0),
        (12, 900.0, 5.0, 10.0),
    ):

        def integrand(
            delta: float,
            df: int = df,
            info: float = information,
            t: float = t,
            sd: float = prior_sd,
        ) -> float:
            density = stats.nct.pdf(t, df, delta * math.sqrt(info))
            return float(density * stats.norm.pdf(delta, 0, sd))

        # The integrand peaks near t / sqrt(information): narrow when the information is large.
        peak = t / math.sqrt(information)
        marginal = integrate.quad(
            integrand, -60, 60, points=[0.0, peak], limit=400, epsabs=0, epsrel=1e-10
        )[0]
        expected = math.log(marginal / stats.t.pdf(t, df))
        assert regression_bayes_factor_log(df, t, information, prior_sd) == pytest.approx(
            expected, rel=1e-5
        )
    # One offset: the t-test's Bayes factor, float for float.
    for n, t in ((2, 1.0), (7, -2.2), (40, 3.3)):
        assert regression_bayes_factor_log(n - 1, t, float(n), 1.0) == t_bayes_factor_log(n, t)
    assert regression_bayes_factor_log(0, 3.0, 5.0, 1.0) == 0.0


def test_streaming_slope_matches_least_squares() -> None:
    rng = np.random.default_rng(24)
    t = np.sort(rng.uniform(1e9, 1e9 + 600, 300))
    y = 1e8 + 5e3 * (t - 1e9) + rng.normal(0, 1e5, 300)
    slope = StreamingSlope()
    for ti, yi in zip(t.tolist(), y.tolist(), strict=True):
        slope.update(ti, yi)
    assert slope.slope == pytest.approx(np.polyfit(t - 1e9, y, 1)[0], rel=1e-6)
    assert StreamingSlope().slope is None


def test_paired_slopes_are_two_streaming_slopes_bit_for_bit() -> None:
    rng = np.random.default_rng(25)
    t = np.sort(rng.uniform(1e9, 1e9 + 600, 300)).tolist()
    a, b = (rng.normal(2e8, 1e6, 300).tolist() for _ in range(2))
    paired, one, two = PairedSlopes(), StreamingSlope(), StreamingSlope()
    assert paired.a is None
    assert paired.b is None
    for ti, ai, bi in zip(t, a, b, strict=True):
        paired.update(ti, ai, bi)
        one.update(ti, ai)
        two.update(ti, bi)
        assert (paired.a, paired.b) == (one.slope, two.slope)
    assert paired.a is not None
