"""Anytime-valid tests that one arm's event rate exceeds another's, from per-interval counts.

The model (Lindon & Malek 2022; Netflix's counting-process tests): within one
interval, canary events arrive at ``n_c * p_c`` and baseline events at
``n_b * p_b``, where ``n`` is each arm's exposure (its requests). Given the
number ``m`` of events in the interval, the canary's share is binomial with

    pi = s * rho / (1 + s * rho),   s = n_c / n_b,   rho = p_c / p_b.

The baseline rate ``p_b`` cancels, so the test stays valid when rates drift,
spike or vary by time of day (as long as both arms see it), when the baseline
has no events at all, and when the traffic shares ``s`` change from interval
to interval. Under ``rho <= rho0`` every likelihood ratio against an
alternative ``rho_j > rho0`` is a nonnegative supermartingale; a fixed mixture
over a grid of alternatives is one too, so by Ville's inequality
``P(sup_t E_t >= 1/alpha) <= alpha``.

The "pass" side tests the reverse hypothesis ``rho >= rho0`` with alternatives
below ``rho0``: rejecting it is evidence that the canary is not worse than the
margin.

Speed: the share ratio ``s`` is rounded to a geometric grid (steps of 2%),
*up* for the fail side and *down* for the pass side. Rounding up only raises
the null's canary share (rounding down only lowers it), so each likelihood
ratio stays a supermartingale under its null: the tests stay valid and lose
almost no power. With ``s`` on a grid, the per-interval terms come from a
cache, so an interval costs one multiply-add per grid point and no logarithm.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from itertools import repeat
from operator import add as _add
from operator import mul as _mul
from operator import sub as _sub

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

FAIL_GRID: tuple[float, ...] = tuple(float(g) for g in np.geomspace(1.1, 50.0, 10))
"""Alternatives for the fail side, as multiples of the null ratio ``rho0``."""
PASS_GRID: tuple[float, ...] = (0.9, 0.8, 0.7, 0.55, 0.4, 0.25)
"""Alternatives for the pass side, as multiples of ``rho0``."""

_maximum = np.maximum.reduce
_STEP = math.log(1.02)
_CACHE_LIMIT = 4096


def log_mean_exp(values: Sequence[float]) -> float:
    """``log(mean(exp(values)))`` without overflow: the log of a uniform mixture."""
    top = max(values)
    if top == -math.inf or top == math.inf:
        return top
    return top + math.log(sum(math.exp(v - top) for v in values) / len(values))


def log_weighted_mean_exp(values: Sequence[float], log_weights: Sequence[float]) -> float:
    """``log(sum(w * exp(values)))`` for weights summing to 1: the log of a weighted mixture."""
    return log_mean_exp([v + w for v, w in zip(values, log_weights, strict=True)]) + math.log(
        len(values)
    )


class _Penalties:
    """``log1p(s rho_j) - log1p(s rho0)`` for the alternatives, cached per rounded ``s``."""

    __slots__ = ("_both", "_fail", "_fail_grid", "_gain", "_pass", "rho0")

    def __init__(self, rho0: float, fail_grid: tuple[float, ...] = FAIL_GRID) -> None:
        self.rho0 = rho0
        self._fail_grid = fail_grid
        self._fail: dict[int, tuple[float, ...]] = {}
        self._pass: dict[int, tuple[float, ...]] = {}
        self._both: dict[float, tuple[tuple[float, ...], tuple[float, ...]]] = {}
        self._gain: dict[float, float] = {}

    @staticmethod
    def up(s: float) -> int:
        """Grid index of ``s`` rounded up."""
        return math.ceil(math.log(s) / _STEP - 1e-9)

    @staticmethod
    def down(s: float) -> int:
        """Grid index of ``s`` rounded down."""
        return math.floor(math.log(s) / _STEP + 1e-9)

    def fail(self, s: float) -> tuple[float, ...]:
        index = self.up(s)
        cached = self._fail.get(index)
        if cached is None:
            cached = self._compute(self._fail, index, self._fail_grid)
        return cached

    def pass_(self, s: float) -> tuple[float, ...]:
        index = self.down(s)
        cached = self._pass.get(index)
        if cached is None:
            cached = self._compute(self._pass, index, PASS_GRID)
        return cached

    def both(self, s: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(:meth:`fail`, :meth:`pass_`) of ``s``, cached per ``s`` itself.

        Exposures are counts, so the same ratios recur look after look: a hit costs one
        hash of a float instead of a logarithm and two roundings.
        """
        found = self._both.get(s)
        if found is None:
            if len(self._both) >= _CACHE_LIMIT:
                self._both.clear()
            found = self._both[s] = (self.fail(s), self.pass_(s))
        return found

    def gain(self, s: float) -> float:
        """``max(0, max_j (log g_j - fail_j))`` for the fail side's penalties at ``s``: a
        canary event raises no fail-side log ratio by more (a baseline event lowers them all),
        cached per ``s``."""
        found = self._gain.get(s)
        if found is None:
            if len(self._gain) >= _CACHE_LIMIT:
                self._gain.clear()
            fail = self.both(s)[0]
            found = max(0.0, *[math.log(g) - f for g, f in zip(self._fail_grid, fail, strict=True)])
            self._gain[s] = found
        return found

    def _compute(
        self, cache: dict[int, tuple[float, ...]], index: int, grid: tuple[float, ...]
    ) -> tuple[float, ...]:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        s = math.exp(index * _STEP)
        base = math.log1p(s * self.rho0)
        value = cache[index] = tuple(math.log1p(s * self.rho0 * g) - base for g in grid)
        return value


@functools.lru_cache(maxsize=64)
def _shared_penalties(rho0: float, fail_grid: tuple[float, ...] = FAIL_GRID) -> _Penalties:
    """One penalty cache per null ratio and fail grid, shared by every test of that pair.

    The terms depend only on ``rho0``, the grid and the rounded ``s``; a short-lived test (one
    per metric per analysis, thousands in a simulation) would otherwise compute most
    of them afresh. Sharing changes no value: the same function of the same inputs.
    """
    return _Penalties(rho0, fail_grid)


class RateRatioTest:
    """Sequential test of ``canary rate <= rho0 * baseline rate`` (fail) and its reverse (pass).

    Feed one call of :meth:`update` per interval with both arms' exposures and
    event counts. ``log_e_fail`` is the log e-value against "not worse than
    rho0"; ``log_e_pass`` the log e-value against "worse than rho0".

    ``fail_grid`` and ``fail_weights`` choose the fail side's alternatives (multiples
    of ``rho0``, each above 1) and their prior weights (positive; normalized here):
    any fixed prior keeps the mixture a nonnegative supermartingale under the null,
    so the choice moves power between effect sizes, never validity. The default is
    :data:`FAIL_GRID`, uniformly.
    """

    __slots__ = (
        "_b_fail",
        "_b_pass",
        "_log_g_fail",
        "_log_g_pass",
        "_log_w_fail",
        "_penalties",
        "events_b",
        "events_c",
        "rho0",
    )

    def __init__(
        self,
        rho0: float,
        fail_grid: Sequence[float] = FAIL_GRID,
        fail_weights: Sequence[float] | None = None,
    ) -> None:
        if not rho0 > 0:
            raise ValueError(f"rho0 must be positive, got {rho0}")
        grid = tuple(float(g) for g in fail_grid)
        if not grid or min(grid) <= 1.0:
            raise ValueError(f"fail_grid must be multiples of rho0 above 1, got {grid}")
        self._log_w_fail: list[float] | None = None
        if fail_weights is not None:
            if len(fail_weights) != len(grid) or min(fail_weights) <= 0:
                raise ValueError("fail_weights must be one positive weight per fail_grid point")
            total = math.fsum(fail_weights)
            self._log_w_fail = [math.log(w / total) for w in fail_weights]
        self.rho0 = rho0
        self._penalties = _shared_penalties(rho0, grid)
        self._log_g_fail = [math.log(g) for g in grid]
        self._log_g_pass = [math.log(h) for h in PASS_GRID]
        self._b_fail = [0.0] * len(grid)
        self._b_pass = [0.0] * len(PASS_GRID)
        self.events_c = 0.0
        self.events_b = 0.0

    def update(self, n_c: float, n_b: float, events_c: float, events_b: float) -> None:
        """Add one interval. Intervals where an arm had no exposure carry no information."""
        m = events_c + events_b
        if m <= 0 or n_c <= 0 or n_b <= 0:
            return
        fail, pass_ = self._penalties.both(n_c / n_b)
        # b + m * f per alternative, in C (map over operator functions): the same
        # floating-point operations as the comprehension they replace, in the same order.
        self._b_fail = list(map(_add, self._b_fail, map(_mul, repeat(m), fail)))
        self._b_pass = list(map(_add, self._b_pass, map(_mul, repeat(m), pass_)))
        self.events_c += events_c
        self.events_b += events_b

    def update_many(
        self,
        n_c: npt.ArrayLike,
        n_b: npt.ArrayLike,
        events_c: npt.ArrayLike,
        events_b: npt.ArrayLike,
    ) -> tuple[FloatArray, FloatArray]:
        """:meth:`update` for each interval in turn, in numpy; the log ratios after each.

        Returns (fail, pass) arrays of shape (intervals, grid): row ``t`` holds the
        terms whose :func:`log_mean_exp` is the log e-value after interval ``t``. The
        same floating-point operations in the same order as :meth:`update` (products,
        then sequential sums: ``np.cumsum`` accumulates left to right), so the same
        floats; simulations of thousands of streams use it.
        """
        nc, nb, xc, xb = [np.asarray(v, dtype=np.float64) for v in (n_c, n_b, events_c, events_b)]
        m = xc + xb
        used = (m > 0) & (nc > 0) & (nb > 0)
        s = (nc[used] / nb[used]).tolist()
        penalties = self._penalties
        m_used = m[used][:, None]
        rows = []
        for b0, table in (
            (self._b_fail, [penalties.fail(v) for v in s]),
            (self._b_pass, [penalties.pass_(v) for v in s]),
        ):
            width = len(b0)
            steps = m_used * np.array(table, dtype=np.float64).reshape(-1, width)
            rows.append(np.cumsum(np.vstack((np.array([b0]), steps)), axis=0))
        x = np.cumsum(np.concatenate(([self.events_c], xc[used])))
        fail_b, pass_b = rows
        # Intervals that carried no information repeat the row before them.
        at = np.cumsum(used)
        fail = (x[:, None] * np.array(self._log_g_fail) - fail_b)[at]
        pass_ = (x[:, None] * np.array(self._log_g_pass) - pass_b)[at]
        self._b_fail = fail_b[-1].tolist()
        self._b_pass = pass_b[-1].tolist()
        self.events_c = float(x[-1])
        self.events_b = float(np.cumsum(np.concatenate(([self.events_b], xb[used])))[-1])
        return fail, pass_

    def update_gain(self, n_c: float, n_b: float, events_c: float, events_b: float) -> float:
        """:meth:`update`, returning how much the interval can have raised
        :meth:`max_log_lr_fail` at most (an exact bound; rounding aside, see RatioCheck).

        Per alternative the log ratio grows by ``x_c (log g_j - f_j) - x_b f_j`` with the
        penalty ``f_j > 0``: at most ``x_c`` times :meth:`_Penalties.gain`.
        """
        self.update(n_c, n_b, events_c, events_b)
        if events_c + events_b <= 0 or n_c <= 0 or n_b <= 0:
            return 0.0  # no information: nothing changed
        if events_c < 0 or events_b < 0:
            return math.inf  # no bound: the caller computes the maximum
        return events_c * self._penalties.gain(n_c / n_b)

    def max_log_lr_fail(self) -> float:
        """The largest fail-side log likelihood ratio: an upper bound on ``log_e_fail``."""
        # max(x * g - b), in C as in update().
        return float(
            max(map(_sub, map(_mul, repeat(self.events_c), self._log_g_fail), self._b_fail))
        )

    def max_log_lr_pass(self) -> float:
        """The largest pass-side log likelihood ratio: an upper bound on ``log_e_pass``."""
        return float(
            max(map(_sub, map(_mul, repeat(self.events_c), self._log_g_pass), self._b_pass))
        )

    def log_e_fail(self) -> float:
        return self.log_e_of(self.state())[0]

    def log_e_pass(self) -> float:
        return self.log_e_of(self.state())[1]

    def state(self) -> tuple[float, list[float], list[float]]:
        """A snapshot (the lists are replaced, never changed, by :meth:`update`)."""
        return self.events_c, self._b_fail, self._b_pass

    def log_e_of(self, state: tuple[float, list[float], list[float]]) -> tuple[float, float]:
        """(fail, pass) log e-values of a :meth:`state` taken earlier."""
        x, b_fail, b_pass = state
        fail = [x * g - b for g, b in zip(self._log_g_fail, b_fail, strict=True)]
        pass_ = [x * g - b for g, b in zip(self._log_g_pass, b_pass, strict=True)]
        weights = self._log_w_fail
        log_fail = log_mean_exp(fail) if weights is None else log_weighted_mean_exp(fail, weights)
        return log_fail, log_mean_exp(pass_)


class RateRatioTests:
    """:class:`RateRatioTest` for several event streams sharing one exposure (histogram tails).

    Stream ``k`` counts, per arm, the requests slower than bucket bound ``k``.
    The state is the matrix of log likelihood ratios (streams x alternatives),
    updated per interval by one small matrix product. Arrays are replaced, never
    changed in place, so a reference from :meth:`state` stays a snapshot.
    """

    def __init__(self, rho0: float, streams: int) -> None:
        if not rho0 > 0:
            raise ValueError(f"rho0 must be positive, got {rho0}")
        self.rho0 = rho0
        self.streams = streams
        self._penalties = _shared_penalties(rho0)
        # Pure functions of rho0 and s, shared (as the penalties) by every test of that rho0.
        self._weights, self._by_s = _shared_weights(rho0)
        self._log_g = np.log(np.array(FAIL_GRID + PASS_GRID))
        self._fail = len(FAIL_GRID)
        self._fail_side = (slice(None), slice(None, self._fail))
        """The fail side's columns of the log ratios, as an index built once."""
        self._lr = np.zeros((streams, len(self._log_g)))

    def update(self, n_c: float, n_b: float, events: FloatArray) -> float:
        """Add one interval: exposures and a (2, streams) array of events (canary, baseline);
        return :meth:`max_log_lr_fail` after it (callers screen on it at every look).

        Per alternative ``j`` the log ratio grows by ``x_c (log g_j - r_j) - x_b r_j``
        where ``r_j`` is the interval's penalty: one (streams x 2) @ (2 x grid) product.
        """
        if n_c <= 0 or n_b <= 0:
            return self.max_log_lr_fail()
        s = n_c / n_b
        weights = self._by_s.get(s)  # the same ratios recur: one hash, no logarithm
        if weights is None:
            key = (_Penalties.up(s), _Penalties.down(s))
            weights = self._weights.get(key)
            if weights is None:
                if len(self._weights) >= _CACHE_LIMIT:
                    self._weights.clear()
                row = np.array(self._penalties.fail(s) + self._penalties.pass_(s))
                weights = self._weights[key] = np.array([self._log_g - row, -row])
            if len(self._by_s) >= _CACHE_LIMIT:
                self._by_s.clear()
            self._by_s[s] = weights
        self._lr = lr = self._lr + events.T @ weights
        return float(_maximum(lr[self._fail_side], axis=None))

    def max_log_lr_fail(self) -> float:
        """An upper bound on every stream's fail log e-value (a mixture is below its max)."""
        # The ufunc's reduce directly: ndarray.max() adds a Python-level wrapper call.
        return float(_maximum(self._lr[:, : self._fail], axis=None))

    def log_lr(self) -> FloatArray:
        """Log likelihood ratios, shape (streams, fail grid + pass grid)."""
        return self._lr

    def log_e(self, log_lr: FloatArray | None = None) -> tuple[FloatArray, FloatArray]:
        """Per-stream log e-values: (fail side, pass side)."""
        lr = self._lr if log_lr is None else log_lr
        return (
            _log_mean_exp_rows(lr[:, : self._fail]),
            _log_mean_exp_rows(lr[:, self._fail :]),
        )

    def state(self) -> FloatArray:
        """The log likelihood ratios: enough to compute every e-value later."""
        return self._lr

    def log_e_of(self, state: FloatArray) -> tuple[FloatArray, FloatArray]:
        """:meth:`log_e` for a :meth:`state` taken earlier."""
        return self.log_e(state)


@functools.lru_cache(maxsize=64)
def _shared_weights(
    rho0: float,
) -> tuple[dict[tuple[int, int], FloatArray], dict[float, FloatArray]]:
    """:class:`RateRatioTests`' weight matrices for one null ratio: by grid indices, and by
    the share ratio ``s`` itself."""
    return {}, {}


def _log_mean_exp_rows(values: FloatArray) -> FloatArray:
    top = values.max(axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    total = np.exp(values - safe[:, None]).sum(axis=1)
    result: FloatArray = safe + np.log(total) - math.log(values.shape[1])
    return result
