"""Growth of a gauge (memory): streaming slopes, the t-test and regression Bayes factors.

A growth limit is tested on increments of a gauge series (for canary vs
baseline: the difference canary - baseline, which removes load and time-of-day
effects common to both), each

    X_i = (g(end) - g(start)) - limit * (end - start)

whose mean is <= 0 when the growth rate is within the limit
(`rollsafe.judge.envelope` takes them between floors of a GC sawtooth). The
increments are tested with the scale-invariant Bayes factor of the one-sample
t-test here (normal prior on the standardised effect, right-Haar prior on the
scale; Gönen et al. 2005). Group invariance makes it a test martingale for the
null "mean 0" whatever the unknown noise scale (Pérez-Ortiz, Lardy, de Heide &
Grünwald 2024), so it can be checked after every increment.
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


def regression_bayes_factor_log(df: int, t: float, information: float, prior_sd: float) -> float:
    """Log Bayes factor of "slope != 0" against "slope = 0" in a normal linear regression.

    ``t`` is the slope's t-statistic on ``df`` residual degrees of freedom and
    ``information`` the regressor's sum of squares after the nuisance terms are
    projected out (its units fix what ``prior_sd`` means: the slope per unit of the
    regressor, in noise standard deviations). Right-Haar priors on the nuisance
    coefficients and the noise scale, a normal prior on the standardised slope; the
    same group invariance as the t-test makes it a test martingale under the null.
    With one intercept (``df = n - 1``, ``information = n``) it is
    :func:`t_bayes_factor_log`.
    """
    if df < 1 or information <= 0:
        return 0.0
    g = 1 + information * prior_sd**2
    return -0.5 * math.log(g) + (df + 1) / 2 * (
        math.log1p(t * t / df) - math.log1p(t * t / (df * g))
    )


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


class PairedSlopes:
    """Two :class:`StreamingSlope` series read at the same times, sharing the time sums.

    ``a`` and ``b`` are the slopes :class:`StreamingSlope` would give for each
    series, float for float: the same operations in the same order, with the
    time's mean and variance (identical for both) computed once.
    """

    __slots__ = ("_cov_a", "_cov_b", "_mean_a", "_mean_b", "_mean_t", "_var_t", "n")

    def __init__(self) -> None:
        self.n = 0
        self._mean_t = self._mean_a = self._mean_b = 0.0
        self._var_t = self._cov_a = self._cov_b = 0.0

    def update(self, t: float, a: float, b: float) -> None:
        self.n = n = self.n + 1
        dt = t - self._mean_t
        self._mean_t = mean_t = self._mean_t + dt / n
        self._mean_a = mean_a = self._mean_a + (a - self._mean_a) / n
        self._mean_b = mean_b = self._mean_b + (b - self._mean_b) / n
        self._var_t += dt * (t - mean_t)
        self._cov_a += dt * (a - mean_a)
        self._cov_b += dt * (b - mean_b)

    @property
    def a(self) -> float | None:
        return self.slopes_of(self.state())[0]

    @property
    def b(self) -> float | None:
        return self.slopes_of(self.state())[1]

    def state(self) -> tuple[int, float, float, float]:
        """What :meth:`slopes_of` turns into (:attr:`a`, :attr:`b`), later: a snapshot."""
        return self.n, self._var_t, self._cov_a, self._cov_b

    @staticmethod
    def slopes_of(state: tuple[int, float, float, float]) -> tuple[float | None, float | None]:
        """(:attr:`a`, :attr:`b`) as they were at :meth:`state`: the same divisions."""
        n, var_t, cov_a, cov_b = state
        if n >= 2 and var_t > 0:
            return cov_a / var_t, cov_b / var_t
        return None, None
