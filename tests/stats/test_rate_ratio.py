"""The two-arm rate test: valid under continuous looks, drifting rates and changing shares."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rollsafe.judge.checks import alpha_shares
from rollsafe.judge.ratios import ERROR_GRID, ERROR_WEIGHTS
from rollsafe.stats import RateRatioTest, RateRatioTests, log_mean_exp

ALPHA = 0.05
RUNS = 1500
LOOKS = 300


def _limit(alpha: float, runs: int) -> float:
    """alpha plus three binomial standard errors: what a valid test stays under."""
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)


def _false_rejections(
    rng: np.random.Generator,
    rho0: float,
    *,
    shares: tuple[float, ...] = (0.5,),
    spikes: bool = False,
    side: str = "fail",
    prior: bool = False,
) -> float:
    """Share of runs whose e-value ever reaches 1/ALPHA at the null's edge (rho = rho0)."""
    threshold = math.log(1 / ALPHA)
    rejected = 0
    for _ in range(RUNS):
        test = RateRatioTest(rho0, ERROR_GRID, ERROR_WEIGHTS) if prior else RateRatioTest(rho0)
        total = rng.poisson(100, LOOKS)
        share = np.repeat(shares, -(-LOOKS // len(shares)))[:LOOKS]
        n_c = rng.binomial(total, share)
        n_b = total - n_c
        p_b = np.full(LOOKS, 0.01)
        if spikes:  # incidents that hit both arms: rate x20 for a few looks
            for start in rng.integers(0, LOOKS, 3):
                p_b[start : start + 5] *= 20
        p_b = np.minimum(p_b, 0.9 / rho0)
        x_c = rng.binomial(n_c, np.minimum(p_b * rho0, 1.0))
        x_b = rng.binomial(n_b, p_b)
        # Every look's log ratios at once, the same floats as update() look by look
        # (test_update_many_is_update_look_by_look_bit_for_bit). The mixture is below its
        # largest term, so only looks whose largest term reaches the threshold can reject.
        fail, pass_ = test.update_many(n_c, n_b, x_c, x_b)
        terms = fail if side == "fail" else pass_
        candidates = terms[terms.max(axis=1) >= threshold]
        if any(log_mean_exp(row) >= threshold for row in candidates.tolist()):
            rejected += 1
    return rejected / RUNS


def test_false_failures_stay_below_alpha_under_continuous_looks() -> None:
    rate = _false_rejections(np.random.default_rng(1), 1.2)
    assert rate <= _limit(ALPHA, RUNS)


def test_valid_when_shares_change_and_incidents_hit_both_arms() -> None:
    rng = np.random.default_rng(2)
    rate = _false_rejections(rng, 1.2, shares=(0.1, 0.25, 0.5), spikes=True)
    assert rate <= _limit(ALPHA, RUNS)


def test_the_error_rate_prior_stays_valid_with_changing_shares_and_incidents() -> None:
    # The judge's error-rate test mixes over its own alternatives and weights
    # (judge/ratios.py): any fixed prior must keep false failures below alpha.
    rng = np.random.default_rng(5)
    rate = _false_rejections(rng, 1.2, shares=(0.1, 0.25, 0.5), spikes=True, prior=True)
    assert rate <= _limit(ALPHA, RUNS)


def test_equal_weights_are_the_uniform_mixture_and_bad_priors_are_refused() -> None:
    uniform, weighted = RateRatioTest(1.2), RateRatioTest(1.2, fail_weights=[3.0] * 10)
    for test in (uniform, weighted):
        test.update(40, 60, 3, 1)
        test.update(50, 50, 2, 0)
    assert weighted.log_e_fail() == pytest.approx(uniform.log_e_fail(), rel=1e-12)
    with pytest.raises(ValueError, match="above 1"):
        RateRatioTest(1.2, fail_grid=(0.9, 2.0))
    with pytest.raises(ValueError, match="one positive weight"):
        RateRatioTest(1.2, fail_grid=(1.5, 2.0), fail_weights=(1.0,))
    with pytest.raises(ValueError, match="one positive weight"):
        RateRatioTest(1.2, fail_grid=(1.5, 2.0), fail_weights=(1.0, 0.0))


def test_alpha_shares_favour_errors_and_sum_to_one() -> None:
    shares = alpha_shares(["slope", "ceiling", "ratio", "histogram"])
    assert math.fsum(shares) == pytest.approx(1.0)
    assert shares == pytest.approx([0.2, 0.05, 0.5, 0.25])
    assert alpha_shares(["ceiling"]) == [1.0]  # health mode: the ceiling has all of alpha


def test_false_passes_stay_below_alpha() -> None:
    rate = _false_rejections(np.random.default_rng(3), 1.2, side="pass")
    assert rate <= _limit(ALPHA, RUNS)


def test_update_many_is_update_look_by_look_bit_for_bit() -> None:
    """The simulations above use update_many: it must be exactly the statistic update() keeps."""
    rng = np.random.default_rng(7)
    for run in range(120):  # 36,000 looks
        rho0 = (1.2, 1.1, 2.0)[run % 3]
        scalar, vector = RateRatioTest(rho0), RateRatioTest(rho0)
        for chunk in range(3):  # several calls carry the state on
            total = rng.poisson(100, 100)
            n_c = rng.binomial(total, rng.choice([0.05, 0.1, 0.5, 0.9], 100))
            n_b = total - n_c
            if chunk == 1:  # intervals without exposure or without events
                n_c[::7] = 0
            p = rng.choice([0.0, 0.01, 0.2], 100)
            x_c = rng.binomial(n_c, np.minimum(p * rho0 * rng.uniform(0.3, 3), 1))
            x_b = rng.binomial(n_b, p)
            fail, pass_ = vector.update_many(n_c, n_b, x_c, x_b)
            looks = zip(n_c.tolist(), n_b.tolist(), x_c.tolist(), x_b.tolist(), strict=True)
            for t, look in enumerate(looks):
                scalar.update(*look)
                assert fail[t].max() == scalar.max_log_lr_fail()
                assert pass_[t].max() == scalar.max_log_lr_pass()
                assert log_mean_exp(fail[t].tolist()) == scalar.log_e_fail()
                assert log_mean_exp(pass_[t].tolist()) == scalar.log_e_pass()
            assert vector.state() == scalar.state()
            assert (vector.events_c, vector.events_b) == (scalar.events_c, scalar.events_b)


def test_the_largest_term_bounds_the_mixture() -> None:
    """What lets the validity simulations skip the mixture at looks far from rejecting."""
    rng = np.random.default_rng(6)
    for rho in (0.5, 1.2, 3.0):
        test = RateRatioTest(1.2)
        for _ in range(300):
            n_c, n_b = rng.poisson(50, 2)
            test.update(n_c, n_b, rng.binomial(n_c, 0.02 * rho), rng.binomial(n_b, 0.02))
            assert test.max_log_lr_fail() >= test.log_e_fail()
            assert test.max_log_lr_pass() >= test.log_e_pass()


def test_detects_a_fivefold_error_rate_within_seconds() -> None:
    rng = np.random.default_rng(4)
    delays = []
    for _ in range(200):
        test = RateRatioTest(1.2)
        for look in range(1, 121):
            n_c, n_b = rng.poisson(50, 2)
            test.update(n_c, n_b, rng.binomial(n_c, 0.05), rng.binomial(n_b, 0.01))
            if test.log_e_fail() >= math.log(200):
                delays.append(look)
                break
    assert len(delays) == 200
    assert np.median(delays) <= 15


def test_zero_error_baseline_canary_errors_are_evidence() -> None:
    test = RateRatioTest(1.2)
    for _ in range(20):
        test.update(100, 100, 1, 0)
    assert test.log_e_fail() >= math.log(100)
    quiet = RateRatioTest(1.2)
    for _ in range(100):
        quiet.update(100, 100, 0, 0)
    assert quiet.log_e_fail() == pytest.approx(0.0)
    assert quiet.log_e_pass() == pytest.approx(0.0)


def test_intervals_without_exposure_carry_no_information() -> None:
    test = RateRatioTest(1.2)
    test.update(0, 100, 0, 5)
    test.update(100, 0, 5, 0)
    assert test.events_c == 0
    assert test.log_e_fail() == pytest.approx(0.0)


def test_vector_form_matches_the_scalar_one() -> None:
    rng = np.random.default_rng(5)
    scalar = [RateRatioTest(1.1), RateRatioTest(1.1)]
    vector = RateRatioTests(1.1, 2)
    for _ in range(50):
        n_c, n_b = rng.poisson(40, 2)
        x_c, x_b = rng.binomial(n_c, [0.3, 0.05]), rng.binomial(n_b, [0.25, 0.05])
        vector.update(n_c, n_b, np.vstack((x_c, x_b)).astype(float))
        for k in range(2):
            scalar[k].update(n_c, n_b, x_c[k], x_b[k])
    fail, passed = vector.log_e()
    for k in range(2):
        assert fail[k] == pytest.approx(scalar[k].log_e_fail())
        assert passed[k] == pytest.approx(scalar[k].log_e_pass())


def test_rejects_nonpositive_null_ratio() -> None:
    with pytest.raises(ValueError, match="rho0"):
        RateRatioTest(0)
