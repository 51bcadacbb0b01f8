"""Anytime-valid statistics for canary analysis: pure numpy, no I/O (scipy checks it in the tests).

- :mod:`rollsafe.stats.counts`: one arm's event rate against the other's
  (errors/requests, histogram tails), valid under drifting rates and changing
  traffic shares.
- :mod:`rollsafe.stats.proportions`: one rate against a fixed limit, confidence
  sequences for a rate, Wilson intervals.
- :mod:`rollsafe.stats.slopes`: the t-test Bayes factor for gauge growth; streaming slopes.

E-values from several tests combine by Bonferroni: with ``m`` tests each failing
at ``e >= m / alpha``, the chance that any of them ever fails under the null is
at most ``alpha`` (Ville's inequality and a union bound).
"""

from rollsafe.stats.counts import FAIL_GRID, PASS_GRID, RateRatioTest, RateRatioTests, log_mean_exp
from rollsafe.stats.proportions import RateLimitTest, rate_bounds, rate_exceeds, wilson_interval
from rollsafe.stats.slopes import (
    PairedSlopes,
    StreamingSlope,
    regression_bayes_factor_log,
    t_bayes_factor_log,
)

__all__ = [
    "FAIL_GRID",
    "PASS_GRID",
    "PairedSlopes",
    "RateLimitTest",
    "RateRatioTest",
    "RateRatioTests",
    "StreamingSlope",
    "log_mean_exp",
    "rate_bounds",
    "rate_exceeds",
    "regression_bayes_factor_log",
    "t_bayes_factor_log",
    "wilson_interval",
]
