"""One rate against a limit, and confidence sequences for a rate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rollsafe.stats import RateLimitTest, rate_bounds, rate_exceeds, wilson_interval

ALPHA = 0.05
RUNS = 1000


def _limit(alpha: float, runs: int) -> float:
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)


def test_limit_test_is_valid_at_the_limit_with_continuous_looks() -> None:
    rng = np.random.default_rng(11)
    q, rejected = 0.05, 0
    threshold = math.log(1 / ALPHA)
    for _ in range(RUNS):
        test = RateLimitTest(q)
        n = rng.poisson(20, 400)
        # The rate wanders below the limit and touches it: every request is on the null side.
        p = q * rng.uniform(0.5, 1.0, 400) ** 0.2
        x = rng.binomial(n, p)
        for trials, events in zip(n.tolist(), x.tolist(), strict=True):
            test.update(trials, events)
            # A look whose mixture's largest term is below the threshold cannot reject
            # (test_the_largest_term_bounds_the_mixture): the decision is unchanged.
            if test.max_log_lr_fail() >= threshold and test.log_e_fail() >= threshold:
                rejected += 1
                break
    assert rejected / RUNS <= _limit(ALPHA, RUNS)


def test_the_largest_term_bounds_the_mixture() -> None:
    rng = np.random.default_rng(13)
    for q, p in ((0.05, 0.03), (0.05, 0.05), (0.05, 0.2), (0.0, 0.01), (1.0, 0.5)):
        test = RateLimitTest(q)
        for _ in range(300):
            n = int(rng.poisson(20))
            test.update(n, int(rng.binomial(n, p)))
            assert test.max_log_lr_fail() >= test.log_e_fail()


def test_limit_test_detects_a_rate_above_the_limit() -> None:
    test = RateLimitTest(0.05)
    test.update(1000, 150)
    assert test.log_e_fail() > math.log(1e6)
    assert test.log_e_pass() < 0
    below = RateLimitTest(0.05)
    below.update(5000, 50)
    assert below.log_e_pass() > math.log(1e6)
    assert below.log_e_fail() < 0


def test_limits_at_the_edges_are_decided_by_one_event() -> None:
    zero = RateLimitTest(0.0)
    zero.update(1000, 0)
    assert zero.log_e_fail() == 0.0
    zero.update(1, 1)
    assert zero.log_e_fail() == math.inf
    one = RateLimitTest(1.0)
    one.update(10, 10)
    assert one.log_e_fail() == -math.inf
    assert one.log_e_pass() == 0.0
    one.update(1, 0)
    assert one.log_e_pass() == math.inf
    with pytest.raises(ValueError, match="q must be"):
        RateLimitTest(1.5)


def test_rate_bounds_cover_the_rate_at_every_look() -> None:
    rng = np.random.default_rng(12)
    p, missed = 0.02, 0
    for _ in range(400):
        x = np.cumsum(rng.binomial(50, p, 200))
        n = 50 * np.arange(1, 201)
        for look in range(0, 200, 5):  # every 5th look keeps the test fast
            low, high = rate_bounds(float(x[look]), float(n[look]), ALPHA)
            if not low <= p <= high:
                missed += 1
                break
    assert missed / 400 <= _limit(ALPHA, 400)


def test_rate_bounds_shapes() -> None:
    assert rate_bounds(0, 0, 0.05) == (0.0, 1.0)
    low, high = rate_bounds(0, 1000, 0.05)
    assert low == 0.0
    assert 0 < high < 0.02
    low, high = rate_bounds(1000, 1000, 0.05)
    assert high == 1.0
    assert low > 0.98
    low, high = rate_bounds(100, 1000, 0.05)
    assert low < 0.1 < high
    narrow = rate_bounds(1000, 10000, 0.05)
    assert narrow[1] - narrow[0] < high - low


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(10, 100)
    assert low == pytest.approx(0.0552, abs=1e-3)
    assert high == pytest.approx(0.1744, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 2000)[0] == 0.0


@pytest.mark.parametrize(
    ("events", "trials", "limit"),
    [(1, 48, 0.02), (4, 51, 0.02), (12, 50, 0.05), (30, 30, 0.5), (3, 1000, 0.001), (0, 10, 0.0)],
)
def test_rate_exceeds_agrees_with_the_lower_confidence_bound(
    events: float, trials: float, limit: float
) -> None:
    low, _ = rate_bounds(events, trials, 0.01)
    assert rate_exceeds(events, trials, limit, 0.01) == (low > limit)


def test_one_error_in_48_requests_is_no_evidence_of_a_rate_above_2_percent() -> None:
    # The demo's guard tripped on this (issue 16); a whole outage is proof at once.
    assert not rate_exceeds(1, 48, 0.02, 0.01)
    assert rate_exceeds(20, 20, 0.05, 0.01)
