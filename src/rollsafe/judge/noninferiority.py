"""Early pass: anytime-valid evidence that the canary is no worse than practical margins.

A healthy analysis step need not wait out its duration: it may end as soon as
every metric shows, with confidence sequences valid under continuous
monitoring, that the canary is *no worse than a practical margin*:

- **error rate**: canary rate <= baseline rate + max(relative x baseline rate,
  absolute margin), and canary rate <= ``max_error_rate``;
- **latency**: at every finite histogram bound, the canary's share of requests
  slower than the bound obeys the same kind of margin against the baseline's;
- **memory growth**: the growth test's evidence that the canary does not outgrow
  the baseline by ``limit_bytes_per_hour`` reached ``1/alpha``.

Each rate comparison is a *box* of two one-sided anytime-valid tests, each at
level ``alpha/2``: a lower bound ``L_b`` for the baseline's rate (:func:`lower_bound`),
then a test of "the canary's rate is at least ``q = L_b + max(r x L_b, a)``"
(:func:`rejects_at_least`). Both are mixtures of likelihood ratios whose
alternatives are the null rate shifted by multiples of half the absolute margin
(``SHIFTS``): each ratio is a nonnegative supermartingale whenever every trial's
rate is on the null side, so by Ville's inequality the mixture ever reaching
``2/alpha`` has probability at most ``alpha/2``. Both are monotone in q, so
rejecting q rejects every rate beyond it. On the event that neither test errs
(probability at least ``1 - alpha``), a pass means the canary's rate is below
``q`` and the baseline's above ``L_b``; as the allowance grows with the
baseline's rate, every pair of true rates is then within the margin. So a
canary truly worse than the margin passes a comparison, at any look ever, with
probability at most ``alpha``. Betting on alternatives about one margin away
(where a healthy canary sits) makes these bounds about 25% narrower than a
uniform-prior mixture (Robbins' beta-binomial, ``rollsafe.stats.rate_bounds``).
The ceiling (``max_error_rate``) is the same one-sided test of the canary alone.

The verdict passes only when *every* comparison does (an intersection-union
test): if any one metric or bound is truly worse, passing needs that one
comparison to pass, which has probability at most ``alpha``. No split of
``alpha`` across metrics or bounds is needed.

Assumption: independent trials. The one-sided tests need the null to hold at
every trial (a canary worse than ``q`` throughout), not a constant rate; a
canary worse only on average over a drifting step is not covered.

A floor (``min_requests`` per arm, ``min_duration`` seconds) keeps a step from
passing on a handful of requests even when the bounds would allow it (they
cannot with the default margins, but a generous margin could).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rollsafe.config.analysis import AnalysisConfig
from rollsafe.judge.checks import Check, Levels, screen_half_width
from rollsafe.judge.growth import SlopeCheck
from rollsafe.judge.latency import HistogramCheck
from rollsafe.judge.ratios import CeilingCheck, RatioCheck


@dataclass(frozen=True, slots=True)
class Comparison:
    """One non-inferiority comparison: an upper confidence bound against its margin."""

    metric: str
    what: str
    upper: float | None
    """Anytime-valid upper bound of the effect (e.g. canary rate - baseline rate); None
    when the comparison failed (not computed) or the test has no bound to show."""
    margin: float
    """The largest effect still counted as no worse."""
    passed: bool
    """The comparison shows the canary no worse (for rates: ``upper <= margin``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "what": self.what,
            "upper": self.upper,
            "margin": self.margin,
            "passed": self.passed,
        }


@dataclass(frozen=True, slots=True)
class EarlyPassEvidence:
    """Why a step passed early: the comparisons, the traffic and the time it took."""

    t: float
    elapsed: float
    requests: dict[str, float]
    alpha: float
    comparisons: tuple[Comparison, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": self.t,
            "elapsed": self.elapsed,
            "requests": dict(self.requests),
            "alpha": self.alpha,
            "comparisons": [c.to_dict() for c in self.comparisons],
        }

    def summary(self) -> str:
        """One line for a reason: the tightest comparison, as the closest call."""
        # Closest to its margin, as a share of it (units differ: rates, bytes/hour).
        bounded = [
            (c.upper / c.margin, c)
            for c in self.comparisons
            if c.upper is not None and c.margin > 0
        ]
        if not bounded:
            return f"passed early after {self.elapsed:.0f}s"
        _, closest = max(bounded, key=lambda item: item[0])
        counts = ", ".join(f"{arm} {n:g}" for arm, n in self.requests.items())
        return (
            f"passed early after {self.elapsed:.0f}s ({counts} requests): every metric within "
            f"its margin at alpha {self.alpha:g}; closest: {closest.metric} {closest.what} "
            f"upper bound {closest.upper:.3g} <= margin {closest.margin:.3g}"
        )


SHIFTS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
"""Alternatives of the one-sided tests, in units of half the absolute margin: a healthy
canary's true rate sits about half a margin from each arm's bound (below); larger
shifts serve the relative margin where rates are high (latency bounds near the median).
A uniform mixture over 9 costs log 9 in the threshold."""
_MIN_SHIFT = 0.001
"""The shifts' unit when the absolute margin is (nearly) zero, as a rate."""


def _log_mix(x: float, n: float, q: float, thetas: Sequence[float]) -> float:
    """log of the mean over ``thetas`` of the likelihood ratio theta vs q for x in n."""
    return _log_mean(_mix_sum(x, n, q, thetas), len(thetas))


def _log_mean(total: float, terms: int) -> float:
    # The mean, not the sum, may underflow to 0: log would raise there.
    mean = total / terms
    return math.log(mean) if mean > 0 else -math.inf


def _mix_reaches(
    x: float, n: float, q: float, thetas: Sequence[float], level: float, bar: float
) -> bool:
    """``_log_mix(x, n, q, thetas) >= level``, stopping once a partial sum settles it.

    ``bar`` is :func:`_bar` of ``level``. The terms are nonnegative and added left to
    right, so the running sum never decreases: once it exceeds ``len(thetas) x e^level``
    raised by 1e-9 relative (far beyond the rounding of the division, the logarithm and
    ``bar`` itself), the full comparison is True. Otherwise the full sum decides,
    exactly as :func:`_log_mix` does. (For finite inputs no term is NaN; the terms
    skipped could only have raised, on a logarithm of an underflowed 0.) Bisections ask
    only this question, and about half the terms settle it.
    """
    total = _mix_sum(x, n, q, thetas, bar)
    if total > bar:
        return True
    return _log_mean(total, len(thetas)) >= level


def _mix_sum(x: float, n: float, q: float, thetas: Sequence[float], bar: float = math.inf) -> float:
    """The sum over ``thetas`` of the likelihood ratios theta vs q for x in n, left to
    right; returned as soon as the running sum exceeds ``bar`` (never, by default)."""
    total = 0.0
    # n - x and 1 - q hoisted out of the loop: the same values, computed once (bisections
    # call this hundreds of times when a step passes early).
    rest, other = n - x, 1 - q
    # math.log, not a local alias: compiled (mypyc), math.log and math.exp are C calls.
    for theta in thetas:
        if theta <= 0.0:
            log_lr = -math.inf if x > 0 else -n * math.log1p(-q)
        elif theta >= 1.0:
            log_lr = -math.inf if x < n else -n * math.log(q)
        else:
            log_lr = x * math.log(theta / q) + rest * math.log((1 - theta) / other)
        total += math.exp(700.0 if log_lr > 700.0 else log_lr)  # min(log_lr, 700.0), NaN kept
        if total > bar:
            break
    return total


def _bar(level: float, terms: int) -> float:
    """The partial sum beyond which :func:`_mix_reaches` is True without the other terms
    (none for levels whose exponential is not a normal float, so not exact to 1e-9)."""
    if not -700.0 < level < 700.0:
        return math.inf
    return terms * math.exp(level) * (1 + 1e-9)


def rejects_at_least(x: float, n: float, q: float, shift: float, alpha: float) -> bool:
    """Anytime-valid evidence (level alpha) against "the rate is at least q".

    A mixture of likelihood ratios of rates ``q - s`` (s = ``SHIFTS`` x ``shift``)
    against ``q``: each is a nonnegative supermartingale when every trial's rate is
    at least q, so by Ville's inequality the mixture ever reaching ``1/alpha`` has
    probability at most alpha. It increases with q, so rejecting q rejects every
    larger rate too.
    """
    level = math.log(1 / alpha)
    return _rejects(x, n, q, _offsets(shift), level, _bar(level, len(SHIFTS)))


def _offsets(shift: float) -> list[float]:
    """``f x shift`` for f in ``SHIFTS``: once per bisection, not once per step of it."""
    return [f * shift for f in SHIFTS]


def _rejects(x: float, n: float, q: float, offsets: list[float], level: float, bar: float) -> bool:
    """:func:`rejects_at_least` with the shifts' offsets, the log level and its bar computed."""
    if q >= 1.0:
        return True  # no rate exceeds 1: "worse than q" cannot hold
    if q <= 0.0:
        return False
    # max(q - f x shift, 0.0) for each f, written out (max keeps its first argument unless
    # the second is larger, NaN included): compiled (mypyc), no call per element.
    thetas = [d if not d < 0.0 else 0.0 for d in [q - o for o in offsets]]
    return _mix_reaches(x, n, q, thetas, level, bar)


@functools.lru_cache(maxsize=1024)
def lower_bound(x: float, n: float, shift: float, alpha: float) -> float:
    """An anytime-valid lower confidence bound (level alpha) for a rate.

    The largest q for which "the rate is at most q" is rejected by the mixture of
    rates ``q + s``; the mixture decreases in q, so every smaller q is rejected too.
    Found by bisection, rounded down (towards the safe side).
    """
    if n <= 0 or x <= 0:
        return 0.0
    level = math.log(1 / alpha)
    bar = _bar(level, len(SHIFTS))
    offsets = _offsets(shift)
    low, high = 0.0, x / n
    for _ in range(50):
        q = (low + high) / 2
        if q <= 0.0:
            break
        # min(q + f s, 1.0), written out as in _rejects.
        thetas = [d if not d > 1.0 else 1.0 for d in [q + o for o in offsets]]
        if _mix_reaches(x, n, q, thetas, level, bar):
            low = q
        else:
            high = q
        if high - low <= 1e-9:
            break
    return low


@functools.lru_cache(maxsize=1024)
def upper_bound(x: float, n: float, shift: float, alpha: float) -> float:
    """The smallest rate still not rejected by :func:`rejects_at_least` (for reports).

    Both bounds are pure functions of their arguments, cached for one :func:`evaluate`:
    its latency bounds share an arm's total, and the high ones often their count too
    (none slower), so their bisections repeat.
    """
    low, high = min(x / n, 1.0) if n > 0 else 0.0, 1.0
    offsets, level = _offsets(shift), math.log(1 / alpha)
    bar = _bar(level, len(SHIFTS))
    for _ in range(50):
        q = (low + high) / 2
        if _rejects(x, n, q, offsets, level, bar):
            high = q
        else:
            low = q
        if high - low <= 1e-9:
            break
    return high


def rate_comparison(
    metric: str,
    what: str,
    x_c: float,
    n_c: float,
    x_b: float,
    n_b: float,
    relative: float,
    absolute: float,
    alpha: float,
) -> Comparison | None:
    """Whether canary rate <= baseline rate + max(relative x baseline rate, absolute) is
    shown at level alpha; None when a cheap screen shows it cannot be yet.

    The box: the baseline's lower bound ``L_b`` at alpha/2, then the test of "the
    canary's rate is at least ``L_b + max(relative x L_b, absolute)``" at alpha/2.
    The screen's half-widths are narrower than the tests', so skipping on it only
    ever delays a pass, never makes one.
    """
    if n_c <= 0 or n_b <= 0:
        return None
    p_c, p_b = x_c / n_c, x_b / n_b
    low = max(p_b - screen_half_width(x_b, n_b, alpha / 2), 0.0)
    if p_c + screen_half_width(x_c, n_c, alpha / 2) - low > max(relative * low, absolute):
        return None
    shift = max(absolute, _MIN_SHIFT)
    low_b = lower_bound(x_b, n_b, shift / 2, alpha / 2)
    margin = max(relative * low_b, absolute)
    if not rejects_at_least(x_c, n_c, low_b + margin, shift / 2, alpha / 2):
        return Comparison(metric, what, None, float(margin), False)
    # Only for the report (a bisection): the canary's bound, within the margin by the test.
    upper = min(upper_bound(x_c, n_c, shift / 2, alpha / 2) - low_b, margin)
    return Comparison(metric, what, float(upper), float(margin), True)


def evaluate(
    checks: list[Check],
    config: AnalysisConfig,
    levels: Levels,
    t: float,
    elapsed: float,
    requests: dict[str, float],
) -> EarlyPassEvidence | None:
    """The evidence for an early pass when every check shows the canary no worse, else None.

    ``requests`` is the traffic per arm; the floor in ``config.early_pass`` is checked
    here too. Checks of an unknown kind block an early pass (no claim without a test).
    """
    early = config.early_pass
    if not early.enabled or not checks:
        return None
    if elapsed < early.min_duration or any(n < early.min_requests for n in requests.values()):
        return None
    alpha = levels.alpha
    # The bounds' caches serve one evaluation (its latency bounds share an arm's total and
    # often a count): emptied here, they hold only this evaluation's bisections.
    lower_bound.cache_clear()
    upper_bound.cache_clear()
    found: list[Comparison] = []
    # Cheapest and likeliest to block first: memory (one comparison of cached evidence),
    # errors, the ceiling, then the latency bounds.
    for check in sorted(checks, key=_order):
        comparisons = _compare(check, config, levels, alpha)
        if comparisons is None or not all(c.passed for c in comparisons):
            return None
        found += comparisons
    return EarlyPassEvidence(t, elapsed, dict(requests), alpha, tuple(found))


_ORDER = {"slope": 0, "ratio": 1, "ceiling": 2, "histogram": 3}


def _order(check: Check) -> int:
    return _ORDER.get(check.kind, 4)


def _compare(
    check: Check, config: AnalysisConfig, levels: Levels, alpha: float
) -> list[Comparison] | None:
    early = config.early_pass
    if isinstance(check, RatioCheck):
        if not check.has_data():
            return None
        comparison = rate_comparison(
            check.name,
            "rate difference (canary - baseline)",
            check.x_c,
            check.n_c,
            check.x_b,
            check.n_b,
            early.error_relative_margin,
            early.error_margin,
            alpha,
        )
        return None if comparison is None else [comparison]
    if isinstance(check, CeilingCheck):
        x, n, limit = check.test.events, check.test.trials, check.test.q
        shift = max(early.error_margin, _MIN_SHIFT) / 2
        if n <= 0 or not rejects_at_least(x, n, limit, shift, alpha / 2):
            return None
        high = min(upper_bound(x, n, shift, alpha / 2), limit)
        return [Comparison(check.name, f"{check.arm} error rate", high, limit, True)]
    if isinstance(check, SlopeCheck):
        if not check.has_data() or not check.passes(levels):
            return None
        metric = check.describe(check.snapshot(), levels, "pass")
        upper = metric.high
        limit = check.metric.limit_bytes_per_hour
        # The growth test's pass (e >= 1/alpha) is the evidence; its bound is shown beside.
        what = f"growth canary - baseline, bytes/h (pass e-value {metric.pass_e_value:.3g})"
        return [Comparison(check.name, what, upper, limit, True)]
    if isinstance(check, HistogramCheck):
        if not check.has_data():
            return None
        cum_c, cum_b = [list(map(float, row)) for row in check.cumulative]
        n_c, n_b = cum_c[-1], cum_b[-1]
        found: list[Comparison] = []
        for k, bound in enumerate(check.bounds):
            comparison = rate_comparison(
                check.name,
                f"share slower than {1000 * bound:g} ms (canary - baseline)",
                n_c - cum_c[k],
                n_c,
                n_b - cum_b[k],
                n_b,
                early.latency_relative_margin,
                early.latency_margin,
                alpha,
            )
            if comparison is None:
                return None
            found.append(comparison)
        return found
    return None
