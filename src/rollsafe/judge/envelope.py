"""Memory growth read from the floor of a GC sawtooth, cut at process restarts.

A garbage-collected process's resident memory climbs between collections and
drops at each one: a sawtooth of several MB on top of whatever it really keeps.
Read point by point, that sawtooth is noise several times larger than a leak's
growth over a minute. The *floor* of the sawtooth (the lowest reading in a
window at least one collection long) is what survives a collection, so it
moves only with what the process keeps.

:class:`EnvelopeGrowth` therefore cuts the readings into windows of ``window``
seconds, keeps each arm's minimum (the floor) and range (max - min, the
sawtooth's height) per window, and tests the trend of the floor's difference
``canary - baseline`` against the limit with one of the two tests of
`rollsafe.judge.floor_trends`, chosen by how many readings a window holds
(:data:`DENSE_READINGS`, from the spacing of the readings before the first
window closes: when the readings come, not what they say):

- windows of many readings (one a second: 30 per 30 s window) have precise
  floors: the t-test on floor increments, which also measures a slow wander of
  either arm in its spread;
- windows of few readings (a 15 s scrape: two per 30 s window) have floors
  several MB off; increments difference that noise twice and found a 600 MB/h
  leak within 10 minutes in a third of the runs. The regression of the floors on
  time (an offset and a warm-up term per segment) counts each floor once.

Both give e-values from the same Bayes factor (the t-test's is the
regression's with one offset): a normal prior on the standardised slope, an
equal mixture of scales :data:`PRIOR_SDS`, right-Haar priors on the nuisance
terms and the noise scale (Gönen et al. 2005). By group invariance it is a test
martingale under the null whatever the noise level (Pérez-Ortiz, Lardy, de
Heide & Grünwald 2024), so it can be checked after every window.

Restarts. A process that restarts comes back small and grows again while it
warms up; that growth is no leak. A restart shows as a drop of an arm's floor by
more than :data:`RESTART_FACTOR` times the sawtooth height seen in the previous
windows (a collection never lowers the floor by more than the sawtooth's
height; the largest recent window range is taken as the height, since a window
of two or three readings sees only part of a cycle). At a restart, in either
arm, the series is cut: no increment spans the drop (a new segment of the
regression starts), and the windows of the next ``warmup`` seconds are
skipped. The same warm-up applies from the start of the analysis (a fresh
canary process warming up against a warm baseline). Evidence before and after
is pooled, so a leaking canary that restarts keeps the evidence gathered before
and adds the evidence after.

Assumptions (docs/judge.md): windows at least one collection long, or holding
readings at scattered phases of the sawtooth (otherwise a window's floor sits
high: noisier, never biased towards a leak over time); floor increments (dense
readings) or floors around the fitted curve (sparse readings) roughly normal
and independent. The regression widens its error by the lean of neighbouring
residuals (`rollsafe.judge.floor_trends.wander_inflation`), which takes most of a
slow wander of several MB in one arm's memory into account, not all of it.
"""

from __future__ import annotations

import math
from collections import deque

from rollsafe.judge.floor_trends import FloorIncrements, FloorRegression, State
from rollsafe.stats import regression_bayes_factor_log

PRIOR_SDS = (1.0, 10.0)
"""Prior standard deviations of the standardised slope (per window, or per increment, in
noise standard deviations), mixed with equal weights."""
RESTART_FACTOR = 2.0
"""A floor drop above this many sawtooth heights is a restart, not a collection."""
DENSE_READINGS = 4
"""Readings per window from which the floors are precise enough for the increments test."""
_RANGES = 5
"""Windows of sawtooth height remembered per arm for the restart rule."""


def mixture_log_e(df: int, t: float, information: float) -> float:
    """Log of the mean of the regression Bayes factors over :data:`PRIOR_SDS`."""
    if df < 1 or information <= 0:
        return 0.0
    logs = [regression_bayes_factor_log(df, t, information, sd) for sd in PRIOR_SDS]
    top = max(logs)
    return top + math.log(sum(math.exp(v - top) for v in logs) / len(logs))


def _fit(state: State) -> tuple[float, float] | None:
    """(slope, its standard error), or None without evidence."""
    _n, df, slope, information, rss, _limit, _unit, inflation = state
    if df < 1 or information <= 0 or rss <= 0:
        return None
    return slope, math.sqrt(rss * inflation / df / information)


def envelope_log_e(state: State) -> tuple[float, float]:
    """(fail, pass) log e-values from :meth:`EnvelopeGrowth.state`.

    The two-sided Bayes factor counts for the side its estimate is on; on the
    other side the evidence is capped at 1 (log 0).
    """
    fit = _fit(state)
    if fit is None:
        return 0.0, 0.0
    slope, error = fit
    log_e = mixture_log_e(state[1], slope / error, state[3])
    capped = min(0.0, log_e)
    return (log_e if slope > 0 else capped), (log_e if slope < 0 else capped)


def envelope_bounds(state: State, alpha: float) -> tuple[float, float] | None:
    """Anytime-valid bounds on growth per second: the slopes the test does not reject."""
    fit = _fit(state)
    if fit is None:
        return None
    slope, error = fit
    df, information, limit, unit = state[1], state[3], state[5], state[6]
    if unit <= 0:
        return None
    level = math.log(1 / alpha)
    lo, hi = 0.0, 1.0
    while mixture_log_e(df, hi, information) < level:
        hi *= 2
        if hi > 1e12:
            return None
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if mixture_log_e(df, mid, information) < level:
            lo = mid
        else:
            hi = mid
    half = hi * error
    return limit + (slope - half) / unit, limit + (slope + half) / unit


class _Floor:
    """One arm's current window: its lowest and highest reading, and past heights."""

    __slots__ = ("high", "last", "low", "ranges")

    def __init__(self) -> None:
        self.low = math.inf
        self.high = -math.inf
        self.last: float | None = None  # the previous window's floor
        self.ranges: deque[float] = deque(maxlen=_RANGES)

    def add(self, value: float) -> None:
        if value < self.low:
            self.low = value
        if value > self.high:
            self.high = value

    def close(self) -> tuple[float, bool]:
        """(floor, restarted) of the window just ended; opens the next one."""
        floor, height = self.low, self.high - self.low
        restarted = False
        if self.last is not None and self.ranges:
            # The largest recent range, not a typical one: a window of two or three
            # readings (a 15 s scrape) sees only part of a cycle, and a drop between two
            # such floors would pass for a restart against the median.
            height_seen = max(self.ranges)
            restarted = self.last - floor > RESTART_FACTOR * height_seen + 1e-9 * abs(self.last)
        self.ranges.append(height)
        self.last = floor
        self.low, self.high = math.inf, -math.inf
        return floor, restarted


class EnvelopeGrowth:
    """Sequential test of "floor growth of canary - baseline <= limit" (and >= for a pass)."""

    __slots__ = (
        "_arms",
        "_born",
        "_count",
        "_first_t",
        "_readings",
        "_ready_at",
        "_start",
        "block",
        "limit",
        "min_readings",
        "restarts",
        "trend",
        "warmup",
    )

    def __init__(
        self, limit_per_second: float, window: float, warmup: float, min_readings: int = 2
    ) -> None:
        if window <= 0:
            raise ValueError(f"window must be positive, got {window}")
        if warmup < 0:
            raise ValueError(f"warmup must not be negative, got {warmup}")
        self.limit = limit_per_second
        self.block = window
        self.warmup = warmup
        self.min_readings = min_readings
        """A window closes once it lasted ``window`` seconds and holds this many readings
        (its range, the sawtooth height the restart rule needs, takes two)."""
        self._arms = (_Floor(), _Floor())
        self._start: float | None = None  # start of the open window
        self._count = 0  # readings in the open window
        self._first_t: float | None = None
        self._readings = 0  # before the first window closed: they set the test
        self._ready_at = -math.inf  # windows starting earlier are warm-up
        self._born = 0.0  # when the processes of this segment started, as far as seen
        self.restarts = 0
        self.trend: FloorIncrements | FloorRegression | None = None
        """The test, chosen when the first window closes."""

    def update(self, t: float, canary: float, baseline: float) -> bool:
        """Add a reading of both arms; True when it added evidence."""
        start = self._start
        changed = False
        if start is None or t < start:  # first reading, or time went backwards: cut
            self._cut(t)
        elif t - start >= self.block and self._count >= self.min_readings:
            changed = self._close(start, t)
        if self._start is None:
            self._start = t
            self._count = 0
        self._count += 1
        if self.trend is None:
            if self._first_t is None:
                self._first_t = t
            self._readings += 1
        # _Floor.add for both arms, inlined: this runs for every reading.
        canary_arm, baseline_arm = self._arms
        if canary < canary_arm.low:
            canary_arm.low = canary
        if canary > canary_arm.high:
            canary_arm.high = canary
        if baseline < baseline_arm.low:
            baseline_arm.low = baseline
        if baseline > baseline_arm.high:
            baseline_arm.high = baseline
        return changed

    def _choose(self, end: float) -> FloorIncrements | FloorRegression:
        first = self._first_t if self._first_t is not None else end
        spacing = (end - first) / self._readings if self._readings else self.block
        if spacing <= 0 or self.block / spacing >= DENSE_READINGS:
            return FloorIncrements(self.limit)
        return FloorRegression(self.limit, self.block, self.warmup / 2)

    def _cut(self, t: float) -> None:
        self._born = t
        self._ready_at = t + self.warmup
        if self.trend is not None:
            self.trend.cut()
        for arm in self._arms:
            arm.low, arm.high, arm.last = math.inf, -math.inf, None
            arm.ranges.clear()
        self._start = None

    def _close(self, start: float, end: float) -> bool:
        trend = self.trend
        if trend is None:
            trend = self.trend = self._choose(end)
        self._start = end
        self._count = 0
        (canary, restart_c), (baseline, restart_b) = [arm.close() for arm in self._arms]
        if restart_c or restart_b:
            self.restarts += 1
            self._born = end
            self._ready_at = end + self.warmup
            trend.cut()
            return False
        if start < self._ready_at:
            return False
        return trend.add(start, canary - baseline, self._born)

    @property
    def n(self) -> int:
        """Windows (regression) or increments counted."""
        return 0 if self.trend is None else self.trend.n

    @property
    def slope(self) -> float | None:
        """Floor growth of canary - baseline per second."""
        return None if self.trend is None else self.trend.slope

    def log_e_fail(self) -> float:
        return envelope_log_e(self.state())[0]

    def log_e_pass(self) -> float:
        return envelope_log_e(self.state())[1]

    def state(self) -> State:
        """See :data:`rollsafe.judge.floor_trends.State`."""
        if self.trend is None:
            return 0, -1, 0.0, 0.0, 0.0, self.limit, self.block, 1.0
        return self.trend.state()
