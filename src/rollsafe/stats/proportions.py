"""One arm's rate (errors/requests): anytime-valid tests against a fixed limit, and bounds.

``RateLimitTest`` tests ``p <= q`` (fail side) and ``p >= q`` (pass side) with a
uniform mixture of Bernoulli likelihood ratios over a grid of alternatives on
the odds scale. Each ratio is a supermartingale whenever every request's error
probability is on the null side of ``q``, even if it changes over time, so the
mixture is an e-process. The state is two counts.

``rate_bounds`` is a confidence sequence for a constant rate: the set of ``q``
where the beta-binomial mixture martingale (Robbins 1970) is below ``1/alpha``.
It holds at every look simultaneously with probability ``1 - alpha``.
"""

from __future__ import annotations

import math

from rollsafe.stats.counts import FAIL_GRID, PASS_GRID, log_mean_exp

_PRIOR = 0.5
"""Beta(1/2, 1/2) mixing distribution (Jeffreys) for ``rate_bounds``."""


class RateLimitTest:
    """Sequential test of one rate against the fixed limit ``q`` in [0, 1]."""

    __slots__ = ("_fail", "_pass", "events", "q", "trials")

    def __init__(self, q: float) -> None:
        if not 0 <= q <= 1:
            raise ValueError(f"q must be in [0, 1], got {q}")
        self.q = q
        self.events = 0.0
        self.trials = 0.0
        self._fail = _alternatives(q, FAIL_GRID)
        self._pass = _alternatives(q, PASS_GRID)

    def update(self, trials: float, events: float) -> None:
        self.trials += trials
        self.events += events

    def log_e_fail(self) -> float:
        """Log e-value against ``p <= q``: large when the rate is above the limit."""
        x, n, q = self.events, self.trials, self.q
        if q == 0.0:  # under the null no event can happen: one is proof
            return math.inf if x > 0 else 0.0
        if q == 1.0:  # no rate is above 1
            return -math.inf
        return _log_e(self._fail, x, n)

    def max_log_lr_fail(self) -> float:
        """An upper bound on :meth:`log_e_fail` (a mixture is below its largest term), cheaper.

        The same terms as :meth:`log_e_fail`, so a look whose bound is below a threshold
        has its e-value below it too: callers that only compare skip the mixture.
        """
        if not self._fail:
            return self.log_e_fail()
        x, n = self.events, self.trials
        return max([x * a + (n - x) * b for a, b in self._fail])

    def log_e_pass(self) -> float:
        """Log e-value against ``p >= q``: large when the rate is below the limit."""
        x, n, q = self.events, self.trials, self.q
        if q == 1.0:
            return math.inf if n > x else 0.0
        if q == 0.0:
            return -math.inf
        return _log_e(self._pass, x, n)


def _alternatives(q: float, grid: tuple[float, ...]) -> list[tuple[float, float]]:
    """(log p_j/q, log (1-p_j)/(1-q)) for alternatives with odds ``q/(1-q) * g``."""
    if not 0 < q < 1:
        return []
    odds = q / (1 - q)
    result = []
    for g in grid:
        p = odds * g / (1 + odds * g)
        result.append((math.log(p / q), math.log((1 - p) / (1 - q))))
    return result


def _log_e(alternatives: list[tuple[float, float]], x: float, n: float) -> float:
    return log_mean_exp([x * a + (n - x) * b for a, b in alternatives])


def _log_mixture(x: float, n: float, q: float) -> float:
    """Log of the beta-binomial mixture martingale for the rate ``q`` after x events in n."""
    return _log_marginal(x, n) - _log_null(x, n, q)


def _log_marginal(x: float, n: float) -> float:
    """The mixture's numerator: free of ``q``, so a bisection over ``q`` computes it once."""
    a = b = _PRIOR
    return (
        math.lgamma(x + a)
        + math.lgamma(n - x + b)
        - math.lgamma(n + a + b)
        - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))
    )


def _log_null(x: float, n: float, q: float) -> float:
    return (x * math.log(q) if x > 0 else 0.0) + ((n - x) * math.log1p(-q) if n > x else 0.0)


def rate_bounds(events: float, trials: float, alpha: float) -> tuple[float, float]:
    """Anytime-valid two-sided ``1 - alpha`` confidence bounds for a constant rate.

    With no trials the bounds are (0, 1). Counts may be fractional (they are
    treated as continuous in the gamma functions).
    """
    if trials <= 0:
        return 0.0, 1.0
    x = min(max(events, 0.0), trials)
    level = math.log(1 / alpha)
    centre = x / trials
    marginal = _log_marginal(x, trials)
    low = 0.0 if x <= 0 else _bisect(marginal, x, trials, level, 0.0, centre)
    high = 1.0 if x >= trials else _bisect(marginal, x, trials, level, 1.0, centre)
    return low, high


def rate_exceeds(events: float, trials: float, limit: float, alpha: float) -> bool:
    """Whether ``rate_bounds(events, trials, alpha)``'s lower bound is above ``limit``.

    The same decision without the bisection: the mixture martingale is decreasing in
    ``q`` below the observed rate, so the lower bound is above ``limit`` exactly when
    the observed rate is and the mixture at ``limit`` has reached ``1/alpha``. O(1),
    cheap enough to ask at every look.
    """
    if trials <= 0 or events <= 0:
        return False
    x = min(events, trials)
    if x / trials <= limit:
        return False
    if limit <= 0:
        return True  # no event can happen at a rate of zero: one is proof
    return _log_mixture(x, trials, limit) >= math.log(1 / alpha)


def _bisect(
    marginal: float, x: float, n: float, level: float, outside: float, inside: float
) -> float:
    """The q between ``outside`` (mixture above level) and ``inside`` where it crosses level.

    ``marginal`` is ``_log_marginal(x, n)``: the mixture at ``q`` is ``marginal - _log_null``.
    """
    if marginal - _log_null(x, n, min(max(outside, 1e-300), 1 - 1e-16)) < level:
        return outside
    lo, hi = outside, inside
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if marginal - _log_null(x, n, mid) >= level:
            lo = mid
        else:
            hi = mid
    return hi


def wilson_interval(successes: float, trials: float, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion (fixed sample; 95% by default)."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)
