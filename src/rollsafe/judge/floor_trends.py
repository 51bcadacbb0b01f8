"""Two tests of a floor series' trend against a growth limit, fed one window at a time.

Both take, per closed window, its start and the floor difference ``canary -
baseline`` (`rollsafe.judge.envelope` finds the floors, the restarts and the
warm-up) and give the same :data:`State`, from which
:func:`rollsafe.judge.envelope.envelope_log_e` reads the e-values.

- :class:`FloorIncrements`: the one-sample t-test on increments between
  consecutive windows, ``X_i = (floor(i) - floor(i-1)) - limit * (start(i) -
  start(i-1))``. Each increment differences the floor's noise twice, so it needs
  precise floors (many readings per window); in exchange a slow wander of either
  arm's memory only adds to the increments' spread, which the test measures.
- :class:`FloorRegression`: the floors regressed on time, with an offset and a
  warm-up term per segment between restarts. Each floor counts once, which is
  what sparse readings (two per window at a 15 s scrape) can afford; the price is
  the assumption that floors scatter independently around that curve. A slow
  wander breaks it: neighbouring floors lean the same way, and the residual spread
  understates the slope's error. :func:`wander_inflation` reads that lean from the
  residuals' lag-1 autocorrelation and widens the error accordingly (never narrows
  it, so the e-values stay below the uninflated test's).
"""

from __future__ import annotations

import math

State = tuple[int, int, float, float, float, float, float, float]
"""(windows, degrees of freedom, slope, its information, residual sum of squares,
limit per second, seconds per unit of slope, variance inflation): the slope's
t-statistic is ``slope / sqrt(rss * inflation / df / information)``; the slope is an
excess over the limit, per window. The inflation (>= 1) only ever shrinks the
t-statistic, and the Bayes factor grows with ``|t|``, so the e-values stay below
those of the uninflated test: still valid at the same level."""

WANDER_BIAS = 1.5
"""Bias of the residuals' lag-1 autocorrelation per fitted term, times n (see
:func:`wander_inflation`); 1.5 chosen on the leak benchmark's seeds (1 let a 5 MB
wander through at 10 s, 2 slowed 600 MB/h too near its goal; docs/benchmarks.md)."""
MAX_AUTOCORRELATION = 0.9
"""Cap of the corrected lag-1 autocorrelation: the variance inflation stays <= 19."""


class FloorIncrements:
    """t-test of the mean increment of the floor difference, less the limit."""

    __slots__ = (
        "_first_growth",
        "_m2",
        "_mean",
        "_ref",
        "_varied",
        "duration",
        "limit",
        "n",
        "total",
    )

    def __init__(self, limit_per_second: float) -> None:
        self.limit = limit_per_second
        self._ref: tuple[float, float] | None = None  # (start, floor difference) of the last window
        self.n = 0
        self._mean = 0.0
        self._m2 = 0.0
        self.total = 0.0  # floor growth summed over the increments
        self.duration = 0.0
        self._first_growth: float | None = None
        self._varied = False  # did two increments' raw growth ever differ?

    def cut(self) -> None:
        """No increment spans a restart."""
        self._ref = None

    def add(self, start: float, value: float, born: float) -> bool:
        """A window's floor difference; True when it added an increment."""
        del born  # increments difference any warm-up offset away
        ref = self._ref
        self._ref = (start, value)
        if ref is None:
            return False
        dt = start - ref[0]
        growth = value - ref[1]
        if self._first_growth is None:
            self._first_growth = growth
        elif growth != self._first_growth:
            self._varied = True
        self.total += growth
        self.duration += dt
        x = growth - self.limit * dt
        self.n += 1
        delta = x - self._mean
        self._mean += delta / self.n
        self._m2 += delta * (x - self._mean)
        return True

    def state(self) -> State:
        n = self.n
        # Identical floors in both arms (both arms read the same process's gauge)
        # carry no evidence, even if uneven windows make the increments differ.
        m2 = self._m2 if self._varied else 0.0
        per_increment = self.duration / n if n else 0.0
        return n, n - 1, self._mean, float(n), m2, self.limit, per_increment, 1.0

    @property
    def slope(self) -> float | None:
        """Floor growth of canary - baseline per second, over the increments."""
        return self.total / self.duration if self.duration > 0 else None


class _Segment:
    """Sums of one segment's points (x: start in windows, e: warm-up term, y: floor
    difference less the limit), each measured from the segment's first point."""

    __slots__ = ("e", "ee", "n", "points", "x", "x0", "xe", "xx", "xy", "y", "y0", "ye", "yy")

    def __init__(self) -> None:
        self.n = 0
        self.points: list[tuple[float, float, float]] = []  # (x, e, y), for the residuals
        self.x0 = self.y0 = 0.0
        self.x = self.e = self.y = 0.0
        self.xx = self.xe = self.ee = self.xy = self.ye = self.yy = 0.0

    def add(self, x: float, e: float, y: float) -> None:
        if self.n == 0:
            self.x0, self.y0 = x, y
        x -= self.x0
        y -= self.y0
        self.points.append((x, e, y))
        self.n += 1
        self.x += x
        self.e += e
        self.y += y
        self.xx += x * x
        self.xe += x * e
        self.ee += e * e
        self.xy += x * y
        self.ye += y * e
        self.yy += y * y

    def projected(self, warm_term: bool) -> tuple[int, float, float, float]:
        """(nuisance terms, xx, xy, yy) once the offset and, where it is identifiable,
        the warm-up term are projected out."""
        n = self.n
        if n == 0:
            return 0, 0.0, 0.0, 0.0
        xx = self.xx - self.x * self.x / n
        xy = self.xy - self.x * self.y / n
        yy = self.yy - self.y * self.y / n
        if not warm_term:
            return 1, xx, xy, yy
        ee = self.ee - self.e * self.e / n
        if ee <= 1e-12 * n:
            return 1, xx, xy, yy
        xe = self.xe - self.x * self.e / n
        ye = self.ye - self.y * self.e / n
        return 2, xx - xe * xe / ee, xy - xe * ye / ee, yy - ye * ye / ee

    def residuals(self, slope: float, warm_term: bool) -> list[float]:
        """The points' residuals around the common slope and this segment's own offset
        and (where identifiable) warm-up term, in order."""
        n = self.n
        if n == 0:
            return []
        mean_x, mean_e, mean_y = self.x / n, self.e / n, self.y / n
        warm = 0.0
        ee = self.ee - self.e * self.e / n
        if warm_term and ee > 1e-12 * n:
            xe = self.xe - self.x * self.e / n
            ye = self.ye - self.y * self.e / n
            warm = (ye - slope * xe) / ee
        return [
            (y - mean_y) - slope * (x - mean_x) - warm * (e - mean_e) for x, e, y in self.points
        ]


def wander_inflation(segments: list[list[float]], coefficients: int) -> float:
    """How much a slow wander understates the slope's variance: ``(1 + rho) / (1 - rho)``,
    the factor for a trend in AR(1) noise, with ``rho`` the residuals' lag-1
    autocorrelation (neighbours within a segment), corrected for its downward bias and
    capped at :data:`MAX_AUTOCORRELATION`; 1 when the residuals do not lean together.

    A fit of ``coefficients`` terms pulls its residuals back to their fitted curve, which
    makes even independent residuals alternate (lag-1 autocorrelation about
    ``-coefficients / n``) and hides much of a wander's; the correction adds
    ``(WANDER_BIAS * coefficients + 1 + 3 rho) / n`` back (Marriott and Pope's bias of an
    estimated autocorrelation, with the fitted terms counted)."""
    total = sum(r * r for residuals in segments for r in residuals)
    n = sum(len(residuals) for residuals in segments)
    if total <= 0 or n == 0:
        return 1.0
    lagged = sum(
        residuals[i] * residuals[i + 1] for residuals in segments for i in range(len(residuals) - 1)
    )
    rho = lagged / total
    rho += (WANDER_BIAS * coefficients + 1 + 3 * max(0.0, rho)) / n
    rho = min(MAX_AUTOCORRELATION, max(0.0, rho))
    return (1 + rho) / (1 - rho)


class FloorRegression:
    """Regression of ``floor difference - limit * start`` on start (in windows).

    Per segment between restarts, nuisance terms: an offset, and what is left of a
    warm-up, ``exp(-(start - born) / tau)`` (``born``: when the segment's
    processes started, as far as seen). Under "growth <= limit" the common slope
    is <= 0.
    """

    __slots__ = (
        "_closed",
        "_first_value",
        "_past",
        "_segment",
        "_state",
        "_tau",
        "_varied",
        "n",
        "window",
    )

    def __init__(self, limit_per_second: float, window: float, tau: float) -> None:
        self.window = window
        self._tau = tau
        self._segment = _Segment()
        self._closed = (0, 0, 0.0, 0.0, 0.0)  # (n, nuisance terms, xx, xy, yy) of past segments
        self._past: list[_Segment] = []
        self._state: State = (0, 0, 0.0, 0.0, 0.0, limit_per_second, window, 1.0)
        self.n = 0
        self._first_value: float | None = None
        self._varied = False  # did two windows' floor differences ever differ?

    @property
    def limit(self) -> float:
        return self._state[5]

    def cut(self) -> None:
        """Close the segment: the next window starts one with its own nuisance terms."""
        segment = self._segment
        if segment.n:
            n, terms, xx, xy, yy = self._closed
            k, sxx, sxy, syy = segment.projected(self._tau > 0)
            self._closed = (n + segment.n, terms + k, xx + sxx, xy + sxy, yy + syy)
            self._past.append(segment)
            self._segment = _Segment()

    def add(self, start: float, value: float, born: float) -> bool:
        if self._first_value is None:
            self._first_value = value
        elif value != self._first_value:
            self._varied = True
        warm = math.exp(-(start - born) / self._tau) if self._tau > 0 else 0.0
        self._segment.add(start / self.window, warm, value - self.limit * start)
        self.n += 1
        self._state = self._fit()
        return True

    def _fit(self) -> State:
        n, terms, xx, xy, yy = self._closed
        k, sxx, sxy, syy = self._segment.projected(self._tau > 0)
        n, terms, xx, xy, yy = n + self._segment.n, terms + k, xx + sxx, xy + sxy, yy + syy
        df = n - terms - 1
        if df < 1 or xx <= 0 or not self._varied:
            # Identical floors in both arms (both arms read the same process's gauge)
            # carry no evidence, whatever rounding leaves in the residuals.
            return n, 0, 0.0, 0.0, 0.0, self.limit, self.window, 1.0
        slope = xy / xx
        warm_term = self._tau > 0
        residuals = [s.residuals(slope, warm_term) for s in (*self._past, self._segment)]
        inflation = wander_inflation(residuals, terms + 1)
        return n, df, slope, xx, max(0.0, yy - slope * xy), self.limit, self.window, inflation

    def state(self) -> State:
        return self._state

    @property
    def slope(self) -> float | None:
        """Floor growth of canary - baseline per second, as fitted."""
        state = self._state
        return None if state[1] < 1 else self.limit + state[2] / self.window
