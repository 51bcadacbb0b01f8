"""Checks on rates: canary against baseline (errors/requests), and a rate against a ceiling."""

from __future__ import annotations

import math
from typing import Any

from rollsafe.config.analysis import RatioMetric
from rollsafe.judge.checks import Check, Levels, e_value, pct, screen_half_width
from rollsafe.judge.verdicts import MetricVerdict, Outcome
from rollsafe.stats import RateLimitTest, RateRatioTest, rate_bounds

ERROR_GRID: tuple[float, ...] = tuple(1.25 * 1.4**k for k in range(12))
"""The error-rate test's alternatives, as multiples of the null ratio ``1 + relative_margin``:
12 points from 1.25 to 50.6, 40% apart (with the default 20% margin: canary rates from
1.5x to 61x the baseline's). Denser than the default grid (10 points from 1.1 to 50,
53% apart) where regressions are slow to detect, so the true effect is near an
alternative; the top still reaches the large ratios that a handful of canary-only
errors in a short step point to (one error at a 10% share: e about 3.8, two: 18)."""
ERROR_WEIGHTS: tuple[float, ...] = tuple(g**-0.25 for g in ERROR_GRID)
"""Prior weights of :data:`ERROR_GRID`, falling as ``g^-0.25`` (the largest gets 40% of
the smallest's weight): a large regression piles up evidence so fast that a smaller
weight costs it little, while the small ones (x1.5 to x3), slow to detect, get more of
the prior. Any fixed prior keeps the mixture a supermartingale under the null:
validity does not depend on the choice."""

_PENDING_LIMIT = 512
"""Pending intervals of a ceiling's versus test at most (memory stays bounded)."""
_BATCH = 16
"""From this many pending intervals on, one ``update_many`` beats updates one by one."""

_WORDS = {
    "fail": "canary worse than baseline beyond {margins}",
    "pass": "canary not worse than baseline beyond {margins}",
    "inconclusive": "not enough evidence either way",
}


def absolute_difference_exceeds(
    x_c: float, n_c: float, x_b: float, n_b: float, margin: float, rho0: float, alpha: float
) -> bool:
    """Evidence at level alpha against "canary rate <= baseline rate + margin", given that the
    ratio test has already rejected "canary rate <= rho0 x baseline rate".

    Both nulls together allow a canary rate above ``rho0 x baseline`` only where
    ``baseline < margin / (rho0 - 1)``, so the canary's rate is then below
    ``c = margin x rho0 / (rho0 - 1)``: a one-arm test of "canary rate <= c"
    (fast when the canary is far above it) with half of alpha, or, for small
    rates, anytime-valid bounds on each arm's rate with the other half.
    """
    if rho0 > 1:
        ceiling = margin * rho0 / (rho0 - 1)
        alpha /= 2
        if ceiling < 1 and x_c > n_c * ceiling:
            test = RateLimitTest(ceiling)
            test.update(n_c, x_c)
            if test.log_e_fail() >= math.log(1 / alpha):
                return True
    p_c, p_b = x_c / n_c, x_b / n_b
    gap = screen_half_width(x_c, n_c, alpha / 2) + screen_half_width(x_b, n_b, alpha / 2)
    if p_c - p_b - gap <= margin:
        return False
    return rate_bounds(x_c, n_c, alpha / 2)[0] - rate_bounds(x_b, n_b, alpha / 2)[1] > margin


def absolute_difference_below(
    x_c: float, n_c: float, x_b: float, n_b: float, margin: float, alpha: float
) -> bool:
    """Anytime-valid evidence (level alpha) that canary rate - baseline rate < margin."""
    p_c, p_b = x_c / n_c, x_b / n_b
    gap = screen_half_width(x_c, n_c, alpha / 2) + screen_half_width(x_b, n_b, alpha / 2)
    if p_c - p_b + gap >= margin:
        return False
    return rate_bounds(x_c, n_c, alpha / 2)[1] - rate_bounds(x_b, n_b, alpha / 2)[0] < margin


class RatioCheck(Check):
    """A rate (errors/requests), canary against baseline, with relative and absolute margins.

    Fails when the conditional count test rejects "canary <= (1 + relative) x
    baseline" *and* the confidence sequences show "canary - baseline > absolute"
    (an intersection-union test: the union null is rejected only if both parts are).
    """

    kind = "ratio"

    def __init__(self, metric: RatioMetric) -> None:
        self.name = metric.name
        self.metric = metric
        self.test = RateRatioTest(1 + metric.relative_margin, ERROR_GRID, ERROR_WEIGHTS)
        self.n_c = self.n_b = self.x_c = self.x_b = 0.0
        self._max_fail = 0.0
        """An upper bound on the test's :meth:`~RateRatioTest.max_log_lr_fail`: its value when
        last computed, raised by each interval's :meth:`~RateRatioTest.update_gain` since."""
        self._max_exact = True
        """:attr:`_max_fail` is the maximum itself, computed after the last interval."""
        self._slack_per_event = 1e-9 * max(abs(math.log(g)) for g in ERROR_GRID)
        self._abs_key: tuple[float, float, float, float] | None = None

    def update(self, n_c: float, n_b: float, x_c: float, x_b: float) -> None:
        self.n_c += n_c
        self.n_b += n_b
        self.x_c += x_c
        self.x_b += x_b
        if x_c + x_b > 0:
            # The maximum waits until fails() cannot settle on the bound (most looks can).
            self._max_fail += self.test.update_gain(n_c, n_b, x_c, x_b)
            self._max_exact = False

    def has_data(self) -> bool:
        return self.n_c > 0 and self.n_b > 0

    def log_evidence(self) -> float:
        return self.test.log_e_fail()

    def fails(self, levels: Levels) -> bool:
        # A mixture is below its largest component: most looks stop at this comparison, on
        # the bound while it is below the level by more than the rounding of the ratios it
        # bounds (the products x log g_j and the sums b_j, about 1e-16 relative each).
        if self._max_fail < levels.fail - (1e-9 + self._slack_per_event * self.x_c):
            return False
        if not self._max_exact:
            self._max_fail = self.test.max_log_lr_fail()
            self._max_exact = True
        if self._max_fail < levels.fail or not self.has_data():
            return False
        if self.test.log_e_fail() < levels.fail:
            return False
        margin = self.metric.absolute_margin
        if margin <= 0:
            return True
        key = (self.x_c, self.n_c, self.x_b, self.n_b)
        if key == self._abs_key:
            return False  # unchanged since it was last found short of the margin
        if absolute_difference_exceeds(*key, margin, self.test.rho0, levels.alpha_test):
            return True
        self._abs_key = key
        return False

    def passes(self, levels: Levels) -> bool:
        if not self.has_data():
            return False
        if self.test.log_e_pass() >= levels.pass_:
            return True
        margin = self.metric.absolute_margin
        return absolute_difference_below(
            self.x_c, self.n_c, self.x_b, self.n_b, margin, levels.alpha
        )

    def snapshot(self) -> Any:
        return self.n_c, self.n_b, self.x_c, self.x_b, self.test.state()

    def describe(self, snapshot: Any, levels: Levels, state: Outcome) -> MetricVerdict:
        name, metric, test = self.name, self.metric, self.test
        n_c, n_b, x_c, x_b, test_state = snapshot
        threshold = math.exp(levels.fail)
        alpha = levels.alpha
        arms: dict[str, dict[str, float | None]] = {
            "canary": {"events": x_c, "trials": n_c, "rate": x_c / n_c if n_c else None},
            "baseline": {"events": x_b, "trials": n_b, "rate": x_b / n_b if n_b else None},
        }
        if not (n_c > 0 and n_b > 0):
            missing = (
                "either arm" if n_c <= 0 and n_b <= 0 else "canary" if n_c <= 0 else "baseline"
            )
            reason = f"{name}: no {metric.denominator} in {missing}"
            return MetricVerdict(name, "ratio", state, reason, arms, effect="rate difference")
        log_fail, log_pass = test.log_e_of(test_state)
        p_c, p_b = x_c / n_c, x_b / n_b
        low_c, high_c = rate_bounds(x_c, n_c, alpha / 2)
        low_b, high_b = rate_bounds(x_b, n_b, alpha / 2)
        ratio = f"{p_c / p_b:.3g}x" if p_b > 0 else ("inf" if p_c > 0 else "n/a")
        margins = f"+{metric.relative_margin:.0%} and +{100 * metric.absolute_margin:.3g} pp"
        reason = (
            f"{name}: canary {pct(p_c)} ({x_c:g}/{n_c:g}) vs baseline {pct(p_b)} "
            f"({x_b:g}/{n_b:g}), ratio {ratio}, e={e_value(log_fail):.3g} "
            f"(fails at {threshold:.3g}): {_WORDS[state].format(margins=margins)}"
        )
        return MetricVerdict(
            name,
            "ratio",
            state,
            reason,
            arms,
            effect="canary rate - baseline rate",
            estimate=p_c - p_b,
            low=low_c - high_b,
            high=high_c - low_b,
            e_value=e_value(log_fail),
            threshold=threshold,
            pass_e_value=e_value(log_pass),
        )


class CeilingCheck(Check):
    """The canary's (health mode: every arm's) error rate against ``max_error_rate``.

    In compare mode the ceiling fails only if the canary is also worse than the
    baseline at all (ratio test with no margin, same level: an intersection-union
    test). An incident that pushes both arms over the ceiling is not the
    canary's doing and rolling the canary back would not help; guards and the
    health mode judge absolute limits without a baseline.
    """

    kind = "ceiling"

    def __init__(
        self, name: str, limit: float, arm: str, denominator: str, basis: str = ""
    ) -> None:
        self.name = name
        self.arm = arm
        self.denominator = denominator
        self.basis = basis
        """Where the limit comes from, when not ``max_error_rate`` (a health step's reference)."""
        self.test = RateLimitTest(limit)
        self.versus = RateRatioTest(1.0) if arm == "canary" else None
        self._versus_max: float | None = 0.0
        """The versus test's largest log likelihood ratio; None until :meth:`fails` needs it
        (below the ceiling it never does)."""
        self._pending: list[tuple[float, float, float, float]] = []
        """Intervals not yet added to the versus test: only :meth:`fails` above the ceiling
        reads it, so they wait, and go in together (``update_many``, the same floats)."""

    def update(self, n: float, x: float, n_b: float = 0.0, x_b: float = 0.0) -> None:
        self.test.update(n, x)
        if self.versus is not None and x + x_b > 0:
            pending = self._pending
            pending.append((n, n_b, x, x_b))
            if len(pending) >= _PENDING_LIMIT:
                self._catch_up()
            self._versus_max = None

    def _catch_up(self) -> None:
        """Add the pending intervals to the versus test, in order."""
        versus, pending = self.versus, self._pending
        if versus is None or not pending:
            return
        if len(pending) < _BATCH:
            for interval in pending:
                versus.update(*interval)
        else:
            versus.update_many(*zip(*pending, strict=True))
        pending.clear()

    def has_data(self) -> bool:
        return self.test.trials > 0

    def above_limit(self) -> bool:
        """The observed rate is above the ceiling."""
        return self.test.events > self.test.trials * self.test.q

    def log_evidence(self) -> float:
        if not (self.above_limit() or self.test.q == 0.0):
            return min(0.0, self.test.log_e_fail())
        return self.test.log_e_fail()

    def fails(self, levels: Levels) -> bool:
        # At or below the ceiling every likelihood ratio is <= 1: skip the sum.
        test = self.test
        if not test.events > test.trials * test.q and test.q > 0.0:  # above_limit(), inline
            return False
        versus = self.versus
        if versus is not None:
            self._catch_up()
            if self._versus_max is None:
                self._versus_max = versus.max_log_lr_fail()
            if self._versus_max < levels.fail or versus.log_e_fail() < levels.fail:
                return False
        return self.test.log_e_fail() >= levels.fail

    def passes(self, levels: Levels) -> bool:
        return self.has_data() and self.test.log_e_pass() >= levels.pass_

    def snapshot(self) -> Any:
        return self.test.events, self.test.trials

    def describe(self, snapshot: Any, levels: Levels, state: Outcome) -> MetricVerdict:
        name, arm, denominator, q = self.name, self.arm, self.denominator, self.test.q
        x, n = snapshot
        threshold = math.exp(levels.fail)
        alpha = levels.alpha
        arms: dict[str, dict[str, float | None]] = {
            arm: {"events": x, "trials": n, "rate": x / n if n else None}
        }
        if n <= 0:
            reason = f"{name}: no {denominator}"
            return MetricVerdict(name, "ceiling", state, reason, arms, effect="error rate")
        test = RateLimitTest(q)
        test.update(n, x)
        log_fail, log_pass = test.log_e_fail(), test.log_e_pass()
        low, high = rate_bounds(x, n, alpha)
        limit = f"{pct(q)} ({self.basis})" if self.basis else pct(q)
        words = {
            "fail": f"above the ceiling {limit}"
            + (" and above the baseline" if arm == "canary" else ""),
            "pass": f"below the ceiling {limit}",
            "inconclusive": f"not enough evidence about the ceiling {limit}",
        }[state]
        reason = (
            f"{name}: {arm} error rate {pct(x / n)} ({x:g}/{n:g}), "
            f"e={e_value(log_fail):.3g} (fails at {threshold:.3g}): {words}"
        )
        return MetricVerdict(
            name,
            "ceiling",
            state,
            reason,
            arms,
            effect="error rate",
            estimate=x / n,
            low=low,
            high=high,
            e_value=e_value(log_fail),
            threshold=threshold,
            pass_e_value=e_value(log_pass),
        )
