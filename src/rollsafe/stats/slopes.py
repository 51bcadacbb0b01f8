"""Growth of a gauge (memory): streaming slopes and an anytime-valid test of a growth limit.

``GrowthTest`` cuts a gauge series (for canary vs baseline: the difference
canary - baseline, which removes load and time-of-day effects common to both)
into blocks of about ``block`` seconds. Each block gives an increment

    X_i = (g(end) - g(start)) - limit * (end - start)

whose mean is <= 0 when the growth rate is within the limit. The increments are
tested with the scale-invariant Bayes factor of the one-sample t-test (normal
prior on the standardised effect, right-Haar prior on the scale; Gönen et al.
2005). Group invariance makes it a test martingale for the null "mean 0"
whatever the unknown noise scale (Pérez-Ortiz, Lardy, de Heide & Grünwald
2024), so it can be checked after every block. Assumptions, stated in
docs/judge.md: increments roughly normal and independent across blocks (noise
in the gauge *level* makes neighbouring increments negatively correlated, which
only makes the test conservative).
"""

from __future__ import annotations

import math

_PRIOR_SD = 1.0
"""Prior standard deviation of the standardised effect (mean / sd of an increment)."""


def t_bayes_factor_log(n: int, t: float, prior_sd: float = _PRIOR_SD) -> float:
    """Log Bayes factor of "mean != 0" against "mean = 0" for ``n`` normal values, t-statistic t."""
    if n < 2:
        return 0.0
    nu = n - 1
    g = 1 + n * prior_sd**2
    return -0.5 * math.log(g) + (nu + 1) / 2 * (
        math.log1p(t * t / nu) - math.log1p(t * t / (nu * g))
    )


class GrowthTest:
    """Sequential test of "growth rate <= limit" (fail) and "growth rate >= limit" (pass)."""

    __slots__ = (
        "_first_growth",
        "_m2",
        "_mean",
        "_start",
        "_varied",
        "block",
        "duration",
        "limit",
        "n",
        "total",
    )

    def __init__(self, limit_per_second: float, block: float) -> None:
        if block <= 0:
            raise ValueError(f"block must be positive, got {block}")
        self.limit = limit_per_second
        self.block = block
        self._start: tuple[float, float] | None = None
        self.n = 0
        self._mean = 0.0
        self._m2 = 0.0
        self.total = 0.0  # growth summed over complete blocks
        self.duration = 0.0  # seconds covered by complete blocks
        self._first_growth: float | None = None
        self._varied = False  # did the raw growth of two blocks ever differ?

    def update(self, t: float, value: float) -> bool:
        """Add a reading; True when it completed a block (the test statistic changed)."""
        if self._start is None:
            self._start = (t, value)
            return False
        t0, v0 = self._start
        dt = t - t0
        if dt < 0:  # time went backwards: start a new block
            self._start = (t, value)
            return False
        if dt < self.block:
            return False
        self._start = (t, value)
        growth = value - v0
        if self._first_growth is None:
            self._first_growth = growth
        elif growth != self._first_growth:
            self._varied = True
        self.total += growth
        self.duration += dt
        x = (value - v0) - self.limit * dt
        self.n += 1
        delta = x - self._mean
        self._mean += delta / self.n
        self._m2 += delta * (x - self._mean)
        return True

    @property
    def slope(self) -> float | None:
        """Growth per second over the complete blocks."""
        return self.total / self.duration if self.duration > 0 else None

    def log_e(self) -> float:
        """Log Bayes factor against "growth = limit" (two-sided; sides are read from the sign)."""
        n, mean, m2, _duration, _limit = self.state()
        if n < 2 or m2 <= 0:
            return 0.0
        return t_bayes_factor_log(n, _t_statistic(n, mean, m2))

    def log_e_fail(self) -> float:
        """Evidence that growth exceeds the limit (at most 0 while the estimate is below it)."""
        return growth_log_e(self.state())[0]

    def log_e_pass(self) -> float:
        """Evidence that growth is below the limit."""
        return growth_log_e(self.state())[1]

    def state(self) -> tuple[int, float, float, float, float]:
        """(blocks, mean increment, sum of squared deviations, seconds, limit): for bounds later."""
        # Raw growth identical in every block (e.g. both arms report the same
        # process's gauge, so the difference never moves) carries no evidence;
        # a zero spread makes the t-statistic say so.
        m2 = self._m2 if self._varied else 0.0
        return self.n, self._mean, m2, self.duration, self.limit


def _t_statistic(n: int, mean: float, m2: float) -> float:
    if n < 2 or m2 <= 0:
        # Fewer than two blocks, or identical increments (e.g. both arms report the
        # same process's gauge): the normal model does not hold, no evidence.
        return 0.0
    return mean / math.sqrt(m2 / (n - 1) / n)


def growth_log_e(state: tuple[int, float, float, float, float]) -> tuple[float, float]:
    """(fail, pass) log e-values from :meth:`GrowthTest.state`.

    The two-sided Bayes factor counts for the side its estimate is on; on the
    other side the evidence is capped at 1 (log 0).
    """
    n, mean, m2, _duration, _limit = state
    if n < 2 or m2 <= 0:
        return 0.0, 0.0
    log_e = t_bayes_factor_log(n, _t_statistic(n, mean, m2))
    capped = min(0.0, log_e)
    return (log_e if mean > 0 else capped), (log_e if mean < 0 else capped)


def slope_bounds(
    state: tuple[int, float, float, float, float], alpha: float
) -> tuple[float, float] | None:
    """Anytime-valid bounds on growth per second from :meth:`GrowthTest.state`.

    Inverts the Bayes factor test: the slopes whose t-statistic keeps the Bayes
    factor below ``1/alpha``. None before two blocks or with degenerate data.
    """
    n, mean, m2, duration, limit = state
    if n < 2 or duration <= 0 or m2 <= 0:
        return None
    var = m2 / (n - 1)
    level = math.log(1 / alpha)
    lo, hi = 0.0, 1.0
    while t_bayes_factor_log(n, hi) < level:
        hi *= 2
        if hi > 1e12:
            return None
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if t_bayes_factor_log(n, mid) < level:
            lo = mid
        else:
            hi = mid
    half = hi * math.sqrt(var / n)
    per_block = duration / n
    centre = mean + limit * per_block
    return (centre - half) / per_block, (centre + half) / per_block


class StreamingSlope:
    """Least-squares slope of a series, updated in O(1) (centred sums, no cancellation)."""

    __slots__ = ("_cov", "_mean_t", "_mean_y", "_var_t", "n")

    def __init__(self) -> None:
        self.n = 0
        self._mean_t = self._mean_y = self._cov = self._var_t = 0.0

    def update(self, t: float, y: float) -> None:
        self.n += 1
        dt = t - self._mean_t
        self._mean_t += dt / self.n
        self._mean_y += (y - self._mean_y) / self.n
        self._var_t += dt * (t - self._mean_t)
        self._cov += dt * (y - self._mean_y)

    @property
    def slope(self) -> float | None:
        return self._cov / self._var_t if self.n >= 2 and self._var_t > 0 else None
