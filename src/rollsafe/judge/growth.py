"""Gauge growth (memory): does the canary grow faster than the baseline by more than a limit?"""

from __future__ import annotations

import math
from typing import Any

from rollsafe.config.analysis import SlopeMetric
from rollsafe.judge.checks import Check, Levels, e_value
from rollsafe.judge.verdicts import MetricVerdict, Outcome
from rollsafe.stats import GrowthTest, StreamingSlope, growth_log_e, slope_bounds

_HOUR = 3600.0
SCALES = (1, 6, 30)
"""Block lengths, as multiples of the metric's ``block``: short blocks suit random-walk noise,
long ones bounded noise on the level (a GC sawtooth). Bonferroni over the three."""


class SlopeCheck(Check):
    """Tests the growth of (canary - baseline) against ``limit_bytes_per_hour``.

    The difference removes what both arms share (load, time of day) and any
    constant offset between them (a fresh process is smaller). See
    :class:`rollsafe.stats.GrowthTest` for the test and its assumptions.
    """

    kind = "slope"

    def __init__(self, metric: SlopeMetric) -> None:
        self.name = metric.name
        self.metric = metric
        limit = metric.limit_bytes_per_hour / _HOUR
        self.tests = [GrowthTest(limit, metric.block * scale) for scale in SCALES]
        self._log_scales = math.log(len(SCALES))
        self.canary = StreamingSlope()
        self.baseline = StreamingSlope()
        self.readings = 0
        self._log_e = [0.0] * len(SCALES)
        self._tests_snapshot = self._snapshot_tests()
        """The tests' part of :meth:`snapshot`; it changes only when a block completes."""

    def update(self, t: float, canary: float, baseline: float) -> None:
        self.readings += 1
        self.canary.update(t, canary)
        self.baseline.update(t, baseline)
        difference = canary - baseline
        changed = False
        for i, test in enumerate(self.tests):
            if test.update(t, difference):
                self._log_e[i] = test.log_e()
                changed = True
        if changed:
            self._tests_snapshot = self._snapshot_tests()

    def has_data(self) -> bool:
        return self.readings >= 2

    def log_evidence(self) -> float:
        return max(test.log_e_fail() for test in self.tests) - self._log_scales

    def fails(self, levels: Levels) -> bool:
        level = levels.fail + self._log_scales  # Bonferroni over the block lengths
        if max(self._log_e) < level:
            return False
        return any(test.log_e_fail() >= level for test in self.tests)

    def passes(self, levels: Levels) -> bool:
        level = levels.pass_ + self._log_scales
        if max(self._log_e) < level:
            return False
        return any(test.log_e_pass() >= level for test in self.tests)

    def _snapshot_tests(self) -> tuple[Any, ...]:
        return tuple([(test.state(), test.slope, test.block) for test in self.tests])

    def snapshot(self) -> Any:
        return self.canary.slope, self.baseline.slope, self._tests_snapshot

    def describe(self, snapshot: Any, levels: Levels, state: Outcome) -> MetricVerdict:
        name, limit = self.name, self.metric.limit_bytes_per_hour
        slope_c, slope_b, tests = snapshot
        # Show the block length with the most evidence either way.
        test_state, slope, block = max(tests, key=lambda item: max(map(abs, growth_log_e(item[0]))))
        blocks = test_state[0]
        alpha, log_scales = levels.alpha, self._log_scales
        threshold = math.exp(levels.fail)
        log_fail, log_pass = growth_log_e(test_state)
        log_fail -= log_scales
        bounds = slope_bounds(test_state, alpha / len(SCALES))
        arms: dict[str, dict[str, float | None]] = {
            "canary": {"slope_bytes_per_hour": _hourly(slope_c)},
            "baseline": {"slope_bytes_per_hour": _hourly(slope_b)},
        }
        words = {
            "fail": f"canary grows faster than baseline by more than {_mb(limit)}/h",
            "pass": f"canary does not outgrow baseline by {_mb(limit)}/h",
            "inconclusive": f"not enough evidence yet ({blocks} blocks of {block:g}s)",
        }[state]
        estimate = _hourly(slope)
        shown = "n/a" if estimate is None else f"{_mb(estimate)}/h"
        reason = (
            f"{name}: growth canary - baseline {shown}, e={e_value(log_fail):.3g} "
            f"(fails at {threshold:.3g}): {words}"
        )
        return MetricVerdict(
            name,
            "slope",
            state,
            reason,
            arms,
            effect="canary - baseline growth, bytes/hour",
            estimate=estimate,
            low=None if bounds is None else bounds[0] * _HOUR,
            high=None if bounds is None else bounds[1] * _HOUR,
            e_value=e_value(log_fail),
            threshold=threshold,
            pass_e_value=e_value(log_pass),
        )


def _hourly(per_second: float | None) -> float | None:
    return None if per_second is None else per_second * _HOUR


def _mb(value: float) -> str:
    return f"{value / 1e6:+.3g} MB"
