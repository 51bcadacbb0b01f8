"""Gauge growth (memory): does the canary grow faster than the baseline by more than a limit?"""

from __future__ import annotations

import math
from collections.abc import Callable

from rollsafe.config.analysis import SlopeMetric
from rollsafe.judge.checks import Check, Levels, e_value
from rollsafe.judge.verdicts import MetricVerdict, Outcome
from rollsafe.stats import GrowthTest, StreamingSlope, growth_log_e, slope_bounds

_HOUR = 3600.0


class SlopeCheck(Check):
    """Tests the growth of (canary - baseline) against ``limit_bytes_per_hour``.

    The difference removes what both arms share (load, time of day). See
    :class:`rollsafe.stats.GrowthTest` for the test and its assumptions.
    """

    kind = "slope"

    def __init__(self, metric: SlopeMetric) -> None:
        self.name = metric.name
        self.metric = metric
        self.test = GrowthTest(metric.limit_bytes_per_hour / _HOUR, metric.block)
        self.canary = StreamingSlope()
        self.baseline = StreamingSlope()
        self.readings = 0
        self._log_e = 0.0

    def update(self, t: float, canary: float, baseline: float) -> None:
        self.readings += 1
        self.canary.update(t, canary)
        self.baseline.update(t, baseline)
        if self.test.update(t, canary - baseline):
            self._log_e = self.test.log_e()

    def has_data(self) -> bool:
        return self.readings >= 2

    def log_evidence(self) -> float:
        return self.test.log_e_fail()

    def fails(self, levels: Levels) -> bool:
        return self._log_e >= levels.fail and self.test.log_e_fail() >= levels.fail

    def passes(self, levels: Levels) -> bool:
        return self._log_e >= levels.pass_ and self.test.log_e_pass() >= levels.pass_

    def freeze(self, levels: Levels) -> Callable[[Outcome], MetricVerdict]:
        name, limit = self.name, self.metric.limit_bytes_per_hour
        slope_c, slope_b = self.canary.slope, self.baseline.slope
        blocks, slope = self.test.n, self.test.slope
        test_state, alpha = self.test.state(), levels.alpha
        threshold = math.exp(levels.fail)

        def build(state: Outcome) -> MetricVerdict:
            log_fail, log_pass = growth_log_e(test_state)
            bounds = slope_bounds(test_state, alpha)
            arms: dict[str, dict[str, float | None]] = {
                "canary": {"slope_bytes_per_hour": _hourly(slope_c)},
                "baseline": {"slope_bytes_per_hour": _hourly(slope_b)},
            }
            words = {
                "fail": f"canary grows faster than baseline by more than {_mb(limit)}/h",
                "pass": f"canary does not outgrow baseline by {_mb(limit)}/h",
                "inconclusive": f"not enough evidence yet ({blocks} blocks)",
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

        return build


def _hourly(per_second: float | None) -> float | None:
    return None if per_second is None else per_second * _HOUR


def _mb(value: float) -> str:
    return f"{value / 1e6:+.3g} MB"
