"""Gauge growth (memory): does the canary grow faster than the baseline by more than a limit?"""

from __future__ import annotations

import math
from typing import Any

from rollsafe.config.analysis import SlopeMetric
from rollsafe.judge.checks import Check, Levels, e_value
from rollsafe.judge.envelope import EnvelopeGrowth, envelope_bounds, envelope_log_e
from rollsafe.judge.verdicts import MetricVerdict, Outcome
from rollsafe.stats import PairedSlopes

_HOUR = 3600.0
SCALES = (3, 6, 18)
"""Window lengths, as multiples of the metric's ``block`` (30 s, 1 and 3 minutes by default):
the floor of a GC sawtooth needs a window about one collection long; short windows give
more increments (a faster verdict), long ones cover collections up to three minutes apart.
Bonferroni over the three."""


class SlopeCheck(Check):
    """Tests the growth of (canary - baseline) against ``limit_bytes_per_hour``.

    The difference removes what both arms share (load, time of day) and any
    constant offset between them (a fresh process is smaller). The test reads the
    floor of each window (what survives a garbage collection), skips warm-up and
    cuts the series at restarts: see :mod:`rollsafe.judge.envelope`.
    """

    kind = "slope"

    def __init__(self, metric: SlopeMetric) -> None:
        self.name = metric.name
        self.metric = metric
        limit = metric.limit_bytes_per_hour / _HOUR
        self.tests = [
            EnvelopeGrowth(limit, metric.block * scale, metric.warmup) for scale in SCALES
        ]
        self._log_scales = math.log(len(SCALES))
        self.slopes = PairedSlopes()
        """Least-squares slopes of the raw readings, canary (``a``) and baseline (``b``)."""
        self.readings = 0
        self._log_e = [0.0] * len(SCALES)
        self._log_e_max = 0.0
        """max(self._log_e), kept with it: fails() and passes() screen on it at every look."""
        self.changes = 0
        """Counts the changes of :meth:`has_data` and of the evidence: while it stays, so do
        :meth:`passes` and :meth:`fails` (the judge skips asking again)."""
        self._tests_snapshot: tuple[tuple[Any, ...], int] | None = None
        """The tests' part of :meth:`snapshot`: it changes only when a window closes."""

    def update(self, t: float, canary: float, baseline: float) -> None:
        self.readings += 1
        if self.readings == 2:
            self.changes += 1
        self.slopes.update(t, canary, baseline)
        for test in self.tests:
            restarts = test.restarts
            if test.update(t, canary, baseline):
                self._evidence_changed(test)
            elif test.restarts != restarts:
                self._tests_snapshot = None

    def _evidence_changed(self, test: EnvelopeGrowth) -> None:
        fail, pass_ = envelope_log_e(test.state())
        self._log_e[self.tests.index(test)] = max(fail, pass_)
        self._log_e_max = max(self._log_e)
        self._tests_snapshot = None
        self.changes += 1

    def has_data(self) -> bool:
        return self.readings >= 2

    def log_evidence(self) -> float:
        return max(test.log_e_fail() for test in self.tests) - self._log_scales

    def fails(self, levels: Levels) -> bool:
        level = levels.fail + self._log_scales  # Bonferroni over the block lengths
        if self._log_e_max < level:
            return False
        return any(test.log_e_fail() >= level for test in self.tests)

    def passes(self, levels: Levels) -> bool:
        level = levels.pass_ + self._log_scales
        if self._log_e_max < level:
            return False
        return any(test.log_e_pass() >= level for test in self.tests)

    def snapshot(self) -> Any:
        cached = self._tests_snapshot
        if cached is None:
            tests = tuple((test.state(), test.slope, test.block) for test in self.tests)
            cached = self._tests_snapshot = (tests, max(test.restarts for test in self.tests))
        return self.slopes.state(), *cached  # the slopes divided out in describe()

    def describe(self, snapshot: Any, levels: Levels, state: Outcome) -> MetricVerdict:
        name, limit = self.name, self.metric.limit_bytes_per_hour
        slopes_state, tests, restarts = snapshot
        slope_c, slope_b = PairedSlopes.slopes_of(slopes_state)
        # Show the block length with the most evidence either way.
        test_state, slope, block = max(
            tests, key=lambda item: max(map(abs, envelope_log_e(item[0])))
        )
        blocks = test_state[0]
        alpha, log_scales = levels.alpha, self._log_scales
        threshold = math.exp(levels.fail)
        log_fail, log_pass = envelope_log_e(test_state)
        log_fail -= log_scales
        bounds = envelope_bounds(test_state, alpha / len(SCALES))
        arms: dict[str, dict[str, float | None]] = {
            "canary": {"slope_bytes_per_hour": _hourly(slope_c)},
            "baseline": {"slope_bytes_per_hour": _hourly(slope_b)},
        }
        words = {
            "fail": f"canary grows faster than baseline by more than {_mb(limit)}/h",
            "pass": f"canary does not outgrow baseline by {_mb(limit)}/h",
            "inconclusive": f"not enough evidence yet ({blocks} windows of {block:g}s)",
        }[state]
        if restarts:
            words += f"; {restarts} restart(s) seen, growth across them and warm-up set aside"
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
