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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from rollsafe.config.analysis import HistogramMetric
from rollsafe.judge.checks import Check, Levels, e_value, pct
from rollsafe.judge.ratios import absolute_difference_below, absolute_difference_exceeds
from rollsafe.judge.verdicts import MetricVerdict, Outcome
from rollsafe.stats import RateRatioTests, rate_bounds
from rollsafe.stats.counts import FloatArray

QUANTILES = (0.5, 0.9, 0.99)


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


class HistogramCheck(Check):
    kind = "histogram"

    def __init__(self, metric: HistogramMetric) -> None:
        self.name = metric.name
        self.metric = metric
        self.bounds: tuple[float, ...] = ()
        self.test = RateRatioTests(1 + metric.relative_margin, 0)
        self.cum_c = np.zeros(1)
        self.cum_b = np.zeros(1)
        self._log_k = 0.0
        self._lr: FloatArray | None = None
        self._max_fail = -math.inf
        self._abs_key: tuple[float, float, float] | None = None

    def start(self, bounds: tuple[float, ...]) -> None:
        """Fix the bucket bounds (from the first histogram seen)."""
        k = len(bounds)
        self.bounds = bounds
        self.test = RateRatioTests(1 + self.metric.relative_margin, k)
        self.cum_c = np.zeros(k + 1)
        self.cum_b = np.zeros(k + 1)
        self._log_k = math.log(max(k, 1))

    def update(self, delta_c: Sequence[float], delta_b: Sequence[float]) -> None:
        if not self.bounds or len(delta_c) != len(self.bounds) + 1 or len(delta_b) != len(delta_c):
            return
        c = np.asarray(delta_c, dtype=float)
        b = np.asarray(delta_b, dtype=float)
        self.cum_c += c
        self.cum_b += b
        if c[-1] > 0 and b[-1] > 0:
            # Stream k: requests slower than bound k, per arm (total minus cumulative).
            self.test.update(c[-1], b[-1], np.vstack((c[-1] - c[:-1], b[-1] - b[:-1])))
            self._lr = self.test.log_lr()
            self._max_fail = self.test.max_log_lr_fail()

    def has_data(self) -> bool:
        return bool(self.bounds) and self.cum_c[-1] > 0 and self.cum_b[-1] > 0

    def _log_e(self) -> tuple[FloatArray, FloatArray] | None:
        return None if self._lr is None else self.test.log_e(self._lr)

    def log_evidence(self) -> float:
        log_e = self._log_e()
        return 0.0 if log_e is None else float(log_e[0].max()) - self._log_k

    def fails(self, levels: Levels) -> bool:
        # A mixture is below its largest component: most looks stop at this comparison.
        if self._max_fail < levels.fail + self._log_k:
            return False
        log_e = self._log_e()
        if log_e is None:
            return False
        alpha = levels.alpha_test / len(self.bounds)
        margin = self.metric.absolute_margin
        key = (float(self.cum_c[-1]), float(self.cum_b[-1]), float(log_e[0].max()))
        if key == self._abs_key:
            return False
        for k in np.flatnonzero(log_e[0] >= levels.fail + self._log_k):
            x_c, x_b = self._exceed(int(k))
            n_c, n_b = float(self.cum_c[-1]), float(self.cum_b[-1])
            if margin <= 0 or absolute_difference_exceeds(
                x_c, n_c, x_b, n_b, margin, self.test.rho0, alpha
            ):
                return True
        self._abs_key = key
        return False

    def passes(self, levels: Levels) -> bool:
        if not self.has_data() or self._lr is None:
            return False
        pass_e = self.test.log_e(self._lr)[1]
        n_c, n_b = float(self.cum_c[-1]), float(self.cum_b[-1])
        margin = self.metric.absolute_margin
        for k in np.flatnonzero(pass_e < levels.pass_):
            x_c, x_b = self._exceed(int(k))
            if not absolute_difference_below(x_c, n_c, x_b, n_b, margin, levels.alpha):
                return False
        return True

    def _exceed(self, k: int) -> tuple[float, float]:
        return (
            float(self.cum_c[-1] - self.cum_c[k]),
            float(self.cum_b[-1] - self.cum_b[k]),
        )

    def freeze(self, levels: Levels) -> Callable[[Outcome], MetricVerdict]:
        name, bounds = self.name, self.bounds
        cum_c, cum_b = self.cum_c.copy(), self.cum_b.copy()
        test, lr = self.test, self._lr  # each update makes a new lr array: safe to keep
        threshold = math.exp(levels.fail)
        alpha, log_k = levels.alpha, self._log_k

        def build(state: Outcome) -> MetricVerdict:
            log_e = None if lr is None else test.log_e(lr)
            arms: dict[str, dict[str, float | None]] = {}
            for arm, cum in (("canary", cum_c), ("baseline", cum_b)):
                values: dict[str, float | None] = {"count": float(cum[-1])}
                for q in QUANTILES:
                    values[f"p{round(100 * q)}"] = quantile(bounds, list(cum), q)
                arms[arm] = values
            n_c, n_b = float(cum_c[-1]), float(cum_b[-1])
            if not (n_c > 0 and n_b > 0) or not bounds:
                reason = f"{name}: no latency observations in " + (
                    "canary" if n_c <= 0 else "baseline"
                )
                return MetricVerdict(name, "histogram", state, reason, arms, effect="")
            if log_e is None:
                k = len(bounds) // 2
                log_fail, log_pass = 0.0, 0.0
            else:
                k = int(np.argmax(log_e[0]))
                log_fail = float(log_e[0][k]) - log_k
                log_pass = float(log_e[1].min())
            x_c, x_b = float(n_c - cum_c[k]), float(n_b - cum_b[k])
            low_c, high_c = rate_bounds(x_c, n_c, alpha / (2 * len(bounds)))
            low_b, high_b = rate_bounds(x_b, n_b, alpha / (2 * len(bounds)))
            words = {
                "fail": "canary slower than baseline beyond the margins",
                "pass": "canary not slower than baseline beyond the margins",
                "inconclusive": "not enough evidence either way",
            }[state]
            p50_c, p50_b = arms["canary"]["p50"], arms["baseline"]["p50"]
            reason = (
                f"{name}: p50 {_ms(p50_c)} vs {_ms(p50_b)}; slower than {bounds[k]:g}s: "
                f"canary {pct(x_c / n_c)} vs baseline {pct(x_b / n_b)}, "
                f"e={e_value(log_fail):.3g} (fails at {threshold:.3g}): {words}"
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

        return build


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{1000 * seconds:.3g} ms"
