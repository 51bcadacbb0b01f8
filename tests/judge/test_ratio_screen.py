"""The error-rate check screens its looks on a bound of the largest log ratio: same answers."""

from __future__ import annotations

import numpy as np

from rollsafe.config.analysis import RatioMetric
from rollsafe.judge.checks import Levels
from rollsafe.judge.ratios import RatioCheck


def _eager_update(check: RatioCheck, n_c: float, n_b: float, x_c: float, x_b: float) -> None:
    """The check as it was: the largest log ratio computed after every interval."""
    check.update(n_c, n_b, x_c, x_b)
    check._max_fail, check._max_exact = check.test.max_log_lr_fail(), True


def test_the_bound_is_above_the_largest_ratio_and_fails_answers_as_the_maximum_would() -> None:
    rng = np.random.default_rng(29)
    levels = Levels(0.01, 4, 0.5)
    checked = failed = 0
    for run in range(200):
        check, eager = RatioCheck(RatioMetric()), RatioCheck(RatioMetric())
        rate_b = float(rng.choice([0.0, 0.005, 0.02, 0.2]))
        worse = float(rng.choice([0.5, 1.0, 1.5, 3.0, 10.0]))
        for _ in range(int(rng.integers(5, 400))):
            n_c, n_b = (float(v) for v in rng.poisson(float(rng.choice([5, 50, 500])), 2))
            x_c = float(rng.binomial(int(n_c), min(rate_b * worse + 0.001 * (run % 2), 1.0)))
            x_b = float(rng.binomial(int(n_b), rate_b))
            check.update(n_c, n_b, x_c, x_b)
            _eager_update(eager, n_c, n_b, x_c, x_b)
            # The bound, with the slack fails() allows for rounding, is never below.
            slack = 1e-9 + check._slack_per_event * check.x_c
            assert check._max_fail + slack >= check.test.max_log_lr_fail()
            answer = check.fails(levels)
            assert answer == eager.fails(levels)
            checked += 1
            failed += answer
    assert checked > 5_000
    assert failed > 100  # regressions reached the level: the bound let them through
