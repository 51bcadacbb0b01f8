"""Latency from histogram buckets: is the canary stochastically slower than the baseline?

For every finite bucket bound ``b``, "slower than b" is an event stream whose
rate per request is compared between the arms with the same conditional count
test as errors (``rollsafe.stats.counts``), so common slowdowns (an incident,
the time of day) cancel. A shift of the median shows at bounds near the
median, a longer tail at the high bounds, a wider spread at the high bounds
too. The check fails when some bound's evidence reaches ``K x tests / alpha``
(Bonferroni over the K bounds) and the canary's share slower than that bound
exceeds the baseline's by more than the absolute margin. It passes when every
bound shows the canary not worse.

Practical significance: a bound ``b`` compares the quantile ``q`` at which the
baseline reaches ``b`` (its share at or below ``b``). Evidence at a bound counts
(towards failing, and towards the end-of-step warning) only when the canary's
``q``-quantile exceeds the baseline's by more than ``slowdown_margin`` seconds
*and* ``slowdown_relative_margin`` of the baseline's value, estimated from the
buckets as ``histogram_quantile`` does. A sub-millisecond difference (a freshly
started process, scheduling noise) never fails a step or leans it towards a
rollback. Ignoring evidence can only make failing rarer, so the bound on false
rollbacks is untouched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from rollsafe.config.analysis import HistogramMetric
from rollsafe.judge.checks import Check, Levels, e_value, pct
from rollsafe.judge.ratios import absolute_difference_below, absolute_difference_exceeds
from rollsafe.judge.verdicts import MetricVerdict, Outcome
from rollsafe.stats import RateRatioTests, rate_bounds

QUANTILES = (0.5, 0.9, 0.99)
_TOTALS = (slice(None), slice(-1, None))
"""``[:, -1:]`` (each arm's total), as an index built once: the update takes it every look."""
_BOUNDS = (slice(None), slice(None, -1))
"""``[:, :-1]`` (each arm's counts at or below the bounds)."""


def quantile(bounds: Sequence[float], cumulative: Sequence[float], q: float) -> float | None:
    """Prometheus-style ``histogram_quantile``: linear within the bucket that holds it."""
    total = cumulative[-1]
    if total <= 0:
        return None
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound, count in zip(bounds, cumulative, strict=False):
        if count >= rank:
            if count == previous_count:
                return bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / (
                count - previous_count
            )
        previous_bound, previous_count = bound, count
    return bounds[-1] if bounds else None  # in the +Inf bucket: the highest finite bound


def slowdown(
    bounds: Sequence[float], cum_c: Sequence[float], cum_b: Sequence[float], k: int
) -> tuple[float, float, float] | None:
    """(q, canary's q-quantile, baseline's) at the quantile bound ``k`` compares, or None."""
    n_b = cum_b[-1]
    if n_b <= 0 or cum_c[-1] <= 0:
        return None
    q = min(max(cum_b[k] / n_b, 0.0), 1.0)
    canary, baseline = quantile(bounds, cum_c, q), quantile(bounds, cum_b, q)
    if canary is None or baseline is None:
        return None
    return q, canary, baseline


class HistogramCheck(Check):
    kind = "histogram"

    def __init__(self, metric: HistogramMetric) -> None:
        self.name = metric.name
        self.metric = metric
        self.bounds: tuple[float, ...] = ()
        self.test = RateRatioTests(1 + metric.relative_margin, 0)
        self.cumulative = np.zeros((2, 1))
        """Per arm (row 0 canary, row 1 baseline): counts at or below each bound, then the total."""
        self._log_k = 0.0
        self._max_fail = -math.inf
        self._abs_key: tuple[float, float, float] | None = None
        self._size = -1
        """Counts per arm in a histogram update (bounds and total); -1 before :meth:`start`."""

    def start(self, bounds: tuple[float, ...]) -> None:
        """Fix the bucket bounds (from the first histogram seen)."""
        k = len(bounds)
        self.bounds = bounds
        self.test = RateRatioTests(1 + self.metric.relative_margin, k)
        self.cumulative = np.zeros((2, k + 1))
        self._log_k = math.log(max(k, 1))
        self._size = k + 1 if k else -1

    def update(self, delta_c: Sequence[float], delta_b: Sequence[float]) -> None:
        size = self._size
        if len(delta_c) != size or len(delta_b) != size:
            return
        delta = np.array((delta_c, delta_b), dtype=float)
        self.cumulative = self.cumulative + delta
        n_c, n_b = delta_c[-1], delta_b[-1]
        if n_c > 0 and n_b > 0:  # else the test skips the interval: its maximum stays
            # Requests slower than bound k: the total minus those at or below it.
            self._max_fail = self.test.update(n_c, n_b, delta[_TOTALS] - delta[_BOUNDS])

    def has_data(self) -> bool:
        cumulative = self.cumulative  # numpy scalars compared: bool() for a bool
        return bool(self.bounds and cumulative[0, -1] > 0 and cumulative[1, -1] > 0)

    def practical(self, cum_c: Sequence[float], cum_b: Sequence[float], k: int) -> bool:
        """Whether the slowdown at the quantile bound ``k`` compares exceeds both margins."""
        found = slowdown(self.bounds, cum_c, cum_b, k)
        if found is None:
            return False
        _, canary, baseline = found
        difference = canary - baseline
        return (
            difference > self.metric.slowdown_margin
            and difference > self.metric.slowdown_relative_margin * baseline
        )

    def _practical_log_e(self, log_fail: Any, cum_c: Any, cum_b: Any) -> tuple[float, int | None]:
        """The largest fail-side log e-value among bounds with a practical slowdown, and where."""
        best, where = 0.0, None
        c, b = list(cum_c), list(cum_b)
        for k in np.flatnonzero(log_fail > 0):
            value = float(log_fail[k])
            if value > best and self.practical(c, b, int(k)):
                best, where = value, int(k)
        return best, where

    def log_evidence(self) -> float:
        if not self.bounds:
            return 0.0
        best, _ = self._practical_log_e(self.test.log_e()[0], *self.cumulative)
        return best - self._log_k

    def fails(self, levels: Levels) -> bool:
        # A mixture is below its largest component: most looks stop at this comparison.
        if self._max_fail < levels.fail + self._log_k:
            return False
        fail_e = self.test.log_e()[0]
        n_c, n_b = float(self.cumulative[0, -1]), float(self.cumulative[1, -1])
        key = (n_c, n_b, float(fail_e.max()))
        if key == self._abs_key:
            return False  # unchanged since it was last found short of the absolute margin
        alpha = levels.alpha_test / len(self.bounds)
        margin = self.metric.absolute_margin
        cum_c, cum_b = [list(row) for row in self.cumulative]
        for k in np.flatnonzero(fail_e >= levels.fail + self._log_k):
            if not self.practical(cum_c, cum_b, int(k)):
                continue
            x_c, x_b = self._exceed(int(k))
            if margin <= 0 or absolute_difference_exceeds(
                x_c, n_c, x_b, n_b, margin, self.test.rho0, alpha
            ):
                return True
        self._abs_key = key
        return False

    def passes(self, levels: Levels) -> bool:
        if not self.has_data():
            return False
        pass_e = self.test.log_e()[1]
        n_c, n_b = float(self.cumulative[0, -1]), float(self.cumulative[1, -1])
        margin = self.metric.absolute_margin
        for k in np.flatnonzero(pass_e < levels.pass_):
            x_c, x_b = self._exceed(int(k))
            if not absolute_difference_below(x_c, n_c, x_b, n_b, margin, levels.alpha):
                return False
        return True

    def _exceed(self, k: int) -> tuple[float, float]:
        slower = self.cumulative[:, -1] - self.cumulative[:, k]
        return float(slower[0]), float(slower[1])

    def snapshot(self) -> Any:
        # Both arrays are replaced, never changed in place, by update().
        return self.bounds, self.cumulative, self.test.state()

    def describe(self, snapshot: Any, levels: Levels, state: Outcome) -> MetricVerdict:
        name, test, log_k = self.name, self.test, self._log_k
        bounds, cumulative, test_state = snapshot
        cum_c, cum_b = cumulative
        threshold = math.exp(levels.fail)
        alpha = levels.alpha
        log_e = test.log_e_of(test_state) if bounds else None
        arms: dict[str, dict[str, float | None]] = {}
        for arm, cum in (("canary", cum_c), ("baseline", cum_b)):
            values: dict[str, float | None] = {"count": float(cum[-1])}
            for q in QUANTILES:
                values[f"p{round(100 * q)}"] = quantile(bounds, list(cum), q)
            arms[arm] = values
        n_c, n_b = float(cum_c[-1]), float(cum_b[-1])
        if not (n_c > 0 and n_b > 0) or not bounds:
            reason = f"{name}: no latency observations in " + ("canary" if n_c <= 0 else "baseline")
            return MetricVerdict(name, "histogram", state, reason, arms, effect="")
        practical, where = (
            (0.0, None) if log_e is None else self._practical_log_e(log_e[0], cum_c, cum_b)
        )
        log_pass = 0.0 if log_e is None else float(log_e[1].min())
        log_fail = practical - log_k
        within = ""
        if where is None:
            k = min(range(len(bounds)), key=lambda i: abs(cum_b[i] - n_b / 2))
            if log_e is not None and float(log_e[0].max()) > 0:
                within = self._within(bounds, cum_c, cum_b, int(np.argmax(log_e[0])))
        else:
            k = where
        x_c, x_b = float(n_c - cum_c[k]), float(n_b - cum_b[k])
        low_c, high_c = rate_bounds(x_c, n_c, alpha / (2 * len(bounds)))
        low_b, high_b = rate_bounds(x_b, n_b, alpha / (2 * len(bounds)))
        words = {
            "fail": "canary slower than baseline beyond the margins",
            "pass": "canary not slower than baseline beyond the margins",
            "inconclusive": "not enough evidence either way",
        }[state]
        if state == "inconclusive" and where is not None and log_fail >= levels.fail:
            # fails() also asks for evidence that the shares differ by the absolute margin.
            words = (
                "the ratio's evidence is in, but the canary's share slower is not yet shown "
                f"to exceed the baseline's by the absolute margin "
                f"({100 * self.metric.absolute_margin:g} pp)"
            )
        p50_c, p50_b = arms["canary"]["p50"], arms["baseline"]["p50"]
        reason = (
            f"{name}: p50 {_ms(p50_c)} vs {_ms(p50_b)}; slower than {bounds[k]:g}s: "
            f"canary {pct(x_c / n_c)} vs baseline {pct(x_b / n_b)}, "
            f"e={e_value(log_fail):.3g} (fails at {threshold:.3g}): {words}{within}"
        )
        return MetricVerdict(
            name,
            "histogram",
            state,
            reason,
            arms,
            effect=f"canary - baseline share slower than {bounds[k]:g}s",
            estimate=x_c / n_c - x_b / n_b,
            low=low_c - high_b,
            high=high_c - low_b,
            e_value=e_value(log_fail),
            threshold=threshold,
            pass_e_value=e_value(log_pass),
        )

    def _within(self, bounds: Any, cum_c: Any, cum_b: Any, k: int) -> str:
        """Words for evidence set aside because the slowdown is within the practical margins."""
        found = slowdown(bounds, list(cum_c), list(cum_b), k)
        if found is None:
            return ""
        q, canary, baseline = found
        return (
            f"; p{100 * q:.3g} {_ms(canary)} vs {_ms(baseline)} is within the practical margins "
            f"({_ms(self.metric.slowdown_margin)} and "
            f"{100 * self.metric.slowdown_relative_margin:g}%), so it does not count"
        )


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{1000 * seconds:.3g} ms"
