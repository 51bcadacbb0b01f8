"""Memory growth under an 8 MB GC sawtooth: leaks found in time, warm-up and restarts ignored.

Seeded simulations (issue 16, item 6) at the default judge's level (memory's share,
a fifth, of alpha 0.01), one reading a second like the controller's looks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from rollsafe.config.analysis import SlopeMetric
from rollsafe.judge.checks import Levels, alpha_shares
from rollsafe.judge.envelope import EnvelopeGrowth, envelope_bounds, envelope_log_e
from rollsafe.judge.floor_trends import (
    MAX_AUTOCORRELATION,
    FloorIncrements,
    FloorRegression,
    wander_inflation,
)
from rollsafe.judge.growth import SlopeCheck

# The default judge's level for memory: its share of alpha 0.01 among the four metrics.
LEVELS = Levels(0.01, 4, alpha_shares(["ratio", "ceiling", "histogram", "slope"])[-1])
MB = 1e6


def memory(
    rng: np.random.Generator,
    seconds: int,
    leak_mb_per_hour: float = 0.0,
    cold: bool = False,
    restarts: tuple[float, ...] = (),
) -> np.ndarray:
    """One arm: 200 MB, an 8 MB sawtooth (period 20-40 s), noise; a fresh process starts
    40 MB low and warms with a 60 s time constant; a restart loses the leak and warms again."""
    t = np.arange(seconds, dtype=float)
    since = t.copy() if cold else t + 1e9
    for at in restarts:
        since = np.where(t >= at, t - at, since)
    period = rng.uniform(20, 40)
    sawtooth = 8 * MB * ((t / period + rng.uniform()) % 1.0)
    leak = leak_mb_per_hour * MB / 3600 * np.minimum(since, t)
    warm = -40 * MB * np.exp(-since / 60)
    result: np.ndarray = 200 * MB + warm + leak + sawtooth + rng.normal(0, 0.3 * MB, seconds)
    return result


def judge(
    canary: np.ndarray, baseline: np.ndarray, every: int = 1, phase: int = 0
) -> tuple[float | None, SlopeCheck]:
    """(second of the failure or None, the check), reading both arms every ``every`` s."""
    check = SlopeCheck(SlopeMetric())
    drift = np.cumsum(np.random.default_rng(0).normal(0, 0.05 * MB, canary.size))
    seconds = np.arange(phase, canary.size, every)
    for second, c, b in zip(
        seconds.tolist(),
        (canary + drift)[seconds].tolist(),
        (baseline + drift)[seconds].tolist(),
        strict=True,
    ):
        check.update(float(second), c, b)
        if check.fails(LEVELS):
            return float(second), check
    return None, check


def test_600_mb_per_hour_found_within_10_minutes() -> None:
    rng = np.random.default_rng(600)
    delays = [judge(memory(rng, 600, 600), memory(rng, 600))[0] for _ in range(20)]
    assert all(d is not None and d < 600 for d in delays), delays


def test_200_mb_per_hour_found_within_30_minutes() -> None:
    rng = np.random.default_rng(200)
    delays = [judge(memory(rng, 1800, 200, cold=True), memory(rng, 1800))[0] for _ in range(20)]
    found = [d for d in delays if d is not None and d < 1800]
    assert len(found) >= 19, delays
    # The warm-up is set aside: nothing is decided in the first two minutes.
    assert min(found) > 120


def test_600_mb_per_hour_found_within_10_minutes_at_a_15_s_scrape() -> None:
    # One reading every 15 s: a 30 s window holds two readings and its floor is MB off.
    # The t-test on floor increments found this leak in about a third of such runs.
    rng = np.random.default_rng(615)
    for run in range(12):
        failed_at, _check = judge(memory(rng, 600, 600), memory(rng, 600), 15, run % 15)
        assert failed_at is not None, run
        assert 120 < failed_at < 600, (run, failed_at)


def test_200_mb_per_hour_found_within_30_minutes_at_a_15_s_scrape() -> None:
    rng = np.random.default_rng(215)
    for run in range(8):
        canary, baseline = memory(rng, 1800, 200, cold=True), memory(rng, 1800)
        failed_at, _check = judge(canary, baseline, 15, run)
        assert failed_at is not None, run
        assert failed_at < 1800, (run, failed_at)


@pytest.mark.parametrize(
    ("canary", "baseline"),
    [({}, {}), ({"cold": True}, {}), ({"restarts": (400.0,)}, {"restarts": (1000.0,)})],
    ids=["sawtooth", "cold-canary", "restarts"],
)
def test_healthy_canary_never_fails_at_a_15_s_scrape(
    canary: dict[str, Any], baseline: dict[str, Any]
) -> None:
    rng = np.random.default_rng(8)
    for run in range(12):
        failed_at, check = judge(
            memory(rng, 1800, **canary), memory(rng, 1800, **baseline), 15, run
        )
        assert failed_at is None
        # A collection between two sparse floors is no restart: only real ones are cut.
        expected = len(canary.get("restarts", ())) + len(baseline.get("restarts", ()))
        assert all(test.restarts == expected for test in check.tests), (run, expected)


@pytest.mark.parametrize(
    ("canary", "baseline"),
    [
        ({}, {}),
        ({"cold": True}, {}),
        ({"restarts": (400.0,)}, {}),
        ({}, {"restarts": (700.0,)}),
        ({"restarts": (300.0, 900.0)}, {"restarts": (600.0, 1300.0)}),
    ],
    ids=["sawtooth", "cold-canary", "canary-restart", "baseline-restart", "both-restart"],
)
def test_healthy_canary_never_fails(canary: dict[str, Any], baseline: dict[str, Any]) -> None:
    rng = np.random.default_rng(7)
    for _ in range(12):
        failed_at, _check = judge(memory(rng, 1800, **canary), memory(rng, 1800, **baseline))
        assert failed_at is None


def test_growth_at_the_limit_is_not_a_failure() -> None:
    rng = np.random.default_rng(50)
    for _ in range(10):
        failed_at, _check = judge(memory(rng, 1800, 50), memory(rng, 1800))
        assert failed_at is None


def test_restart_is_seen_and_cut() -> None:
    rng = np.random.default_rng(11)
    failed_at, check = judge(memory(rng, 1800, restarts=(500.0,)), memory(rng, 1800))
    assert failed_at is None
    assert all(test.restarts == 1 for test in check.tests)
    reason = check.describe(check.snapshot(), LEVELS, "inconclusive").reason
    assert "1 restart(s) seen" in reason


def test_a_leak_that_restarts_is_still_found_after_the_restart() -> None:
    rng = np.random.default_rng(12)
    for _ in range(10):
        canary = memory(rng, 1800, 200, restarts=(240.0,))
        failed_at, check = judge(canary, memory(rng, 1800))
        assert failed_at is not None
        assert 240 < failed_at < 1800
        assert any(test.restarts >= 1 for test in check.tests)


def test_same_process_in_both_arms_carries_no_evidence() -> None:
    rng = np.random.default_rng(13)
    series = memory(rng, 1800, 600)
    failed_at, check = judge(series, series)
    assert failed_at is None
    assert not check.passes(LEVELS)


def test_bounds_cover_the_leak() -> None:
    rng = np.random.default_rng(14)
    test = EnvelopeGrowth(50 * MB / 3600, 60.0, 120.0)
    canary, baseline = memory(rng, 3600, 300), memory(rng, 3600)
    for second in range(3600):
        test.update(float(second), float(canary[second]), float(baseline[second]))
    bounds = envelope_bounds(test.state(), 0.01)
    assert bounds is not None
    low, high = (b * 3600 / MB for b in bounds)
    assert low < 300 < high
    assert high - low < 200
    assert test.slope is not None
    assert math.isclose(test.slope * 3600 / MB, 300, rel_tol=0.2)


def test_window_and_warmup_are_checked() -> None:
    with pytest.raises(ValueError, match="window"):
        EnvelopeGrowth(1.0, 0.0, 10.0)
    with pytest.raises(ValueError, match="warmup"):
        EnvelopeGrowth(1.0, 10.0, -1.0)


def test_floor_regression_is_least_squares_with_offset_and_warmup_per_stretch() -> None:
    # Two stretches (a restart between them), each with its own offset and warm-up term.
    rng = np.random.default_rng(21)
    limit, window, tau = 50 * MB / 3600, 30.0, 60.0
    regression = FloorRegression(limit, window, tau)
    rows, ys = [], []
    for stretch, (born, starts) in enumerate(
        ((0.0, range(120, 600, 30)), (700.0, range(820, 1500, 30)))
    ):
        if stretch:
            regression.cut()
        for start in starts:
            value = 3 * MB + 0.1 * MB * start / 60 - 5 * MB * math.exp(-(start - born) / tau)
            value += float(rng.normal(0, 0.5 * MB))
            regression.add(float(start), value, born)
            warm = math.exp(-(start - born) / tau)
            rows.append(
                [
                    start / window,
                    *((1.0, warm) if stretch == 0 else (0.0, 0.0)),
                    *((1.0, warm) if stretch == 1 else (0.0, 0.0)),
                ]
            )
            ys.append(value - limit * start)
    design, y = np.array(rows), np.array(ys)
    coefficients, rss, *_ = np.linalg.lstsq(design, y, rcond=None)
    n, df, slope, _information, residuals, *_ = regression.state()
    assert n == len(ys)
    assert df == len(ys) - 5
    assert slope == pytest.approx(coefficients[0], rel=1e-6)
    assert residuals == pytest.approx(float(rss[0]), rel=1e-6)
    assert regression.slope is not None
    assert regression.slope * 3600 / MB == pytest.approx(6.0, abs=2.0)  # 0.1 MB/min


@pytest.mark.parametrize(("every", "sparse"), [(1, False), (5, False), (10, True), (15, True)])
def test_the_test_follows_the_readings_per_window(every: int, sparse: bool) -> None:
    rng = np.random.default_rng(3)
    _failed_at, check = judge(memory(rng, 600), memory(rng, 600), every)
    shortest = check.tests[0].trend  # 30 s windows: 30, 6, 3 and 2 readings
    assert isinstance(shortest, FloorRegression if sparse else FloorIncrements)
    assert isinstance(check.tests[-1].trend, FloorIncrements)  # 3 min windows: 12+ readings


def test_wander_inflation_grows_with_residuals_that_lean_together() -> None:
    rng = np.random.default_rng(31)
    independent = [float(v) for v in rng.normal(0, 1, 400)]
    assert wander_inflation([independent], 3) < 1.2
    assert wander_inflation([[1.0, -1.0] * 20], 3) == 1.0
    slow = [math.sin(i / 6) for i in range(60)]
    cap = (1 + MAX_AUTOCORRELATION) / (1 - MAX_AUTOCORRELATION)
    assert wander_inflation([slow], 3) == pytest.approx(cap)
    # Neighbours are taken within a segment only: a restart between them breaks the lean.
    assert wander_inflation([[1.0], [1.0], [-1.0], [-1.0]], 0) < wander_inflation(
        [[1.0, 1.0, -1.0, -1.0]], 0
    )


def test_a_wandering_difference_weighs_less_than_independent_floors() -> None:
    # The same fitted slope and residual spread: floors that wander slowly (AR(1) over
    # windows) give a wider standard error, hence less evidence, than floors that
    # scatter independently around the same line.
    rng = np.random.default_rng(32)
    limit, window = 50 * MB / 3600, 30.0
    steps = rng.normal(0, 1 * MB, 24)
    wander = np.zeros(24)
    for i in range(1, 24):
        wander[i] = 0.9 * wander[i - 1] + steps[i]
    order = rng.permutation(24)
    results = []
    for noise in (wander, wander[order]):
        regression = FloorRegression(limit, window, 0.0)
        for i in range(24):
            start = 120.0 + window * i
            regression.add(start, 0.5 * MB * i + float(noise[i]), 0.0)
        state = regression.state()
        results.append((state[-1], envelope_log_e(state)[0]))
    (wander_inflated, wander_log_e), (shuffled_inflated, shuffled_log_e) = results
    assert wander_inflated > 3
    assert shuffled_inflated < wander_inflated
    assert wander_log_e < shuffled_log_e
