"""The ceiling's comparison with the baseline waits until it is read: the same floats."""

from __future__ import annotations

import numpy as np
import pytest

from rollsafe.judge.checks import Levels
from rollsafe.judge.ratios import CeilingCheck
from rollsafe.stats import RateRatioTest


@pytest.mark.parametrize("intervals", [5, 40, 700])
def test_pending_intervals_give_the_versus_test_of_updates_look_by_look(intervals: int) -> None:
    rng = np.random.default_rng(intervals)
    check = CeilingCheck("ceiling", 0.01, "canary", "requests")
    eager = RateRatioTest(1.0)
    for _ in range(intervals):
        n_c, n_b = (float(v) for v in rng.poisson(50, 2))
        x_c, x_b = float(rng.binomial(int(n_c), 0.04)), float(rng.binomial(int(n_b), 0.02))
        check.update(n_c, x_c, n_b, x_b)
        if x_c + x_b > 0:
            eager.update(n_c, n_b, x_c, x_b)
    assert check.above_limit()
    check.fails(Levels(0.01, 4, 0.05))  # reads the versus test: the pending intervals go in
    assert check.versus is not None
    assert check.versus.state() == eager.state()
    assert check.versus.events_b == eager.events_b
