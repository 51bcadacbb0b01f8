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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import add as _add
from operator import sub as _sub
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
    total = _mix_sum(x, n, q, thetas)
    return math.log(total / len(thetas)) if total > 0 else -math.inf


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
    return (math.log(total / len(thetas)) if total > 0 else -math.inf) >= level


def _mix_sum(x: float, n: float, q: float, thetas: Sequence[float], bar: float = math.inf) -> float:
    """The sum over ``thetas`` of the likelihood ratios theta vs q for x in n, left to
    right; returned as soon as the running sum exceeds ``bar`` (never, by default)."""
    total = 0.0
    # n - x and 1 - q hoisted out of the loop: the same values, computed once (bisections
    # call this hundreds of times when a step passes early).
    rest, other = n - x, 1 - q
    log, exp = math.log, math.exp
    for theta in thetas:
        if theta <= 0.0:
            log_lr = -math.inf if x > 0 else -n * math.log1p(-q)
        elif theta >= 1.0:
            log_lr = -math.inf if x < n else -n * log(q)
        else:
            log_lr = x * log(theta / q) + rest * log((1 - theta) / other)
        total += exp(700.0 if log_lr > 700.0 else log_lr)  # min(log_lr, 700.0), NaN kept
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
    # max(q - f x shift, 0.0) for each f, in C.
    thetas = list(map(max, map(_sub, repeat(q), offsets), repeat(0.0)))
    return _mix_reaches(x, n, q, thetas, level, bar)


@functools.lru_cache(maxsize=1024)
def lower_bound(x: float, n: float, shift: float, alpha: float) -> float:
    """An anytime-valid lower confidence bound (level alpha) for a rate.

    The largest q for which "the rate is at most q" is rejected by the mixture of
    rates ``q + s``; the mixture decreases in q, so every smaller q is rejected too.
    Found by bisection, rounded down (towards the safe side). The bisection's questions
    are answered by :class:`_Answers` (the same answers, mostly without the mixture).
    """
    if n <= 0 or x <= 0:
        return 0.0
    level = math.log(1 / alpha)
    offsets = _offsets(shift)

    def thetas(q: float) -> list[float]:
        return list(map(min, map(_add, repeat(q), offsets), repeat(1.0)))  # min(q + f s, 1)

    def log_mix(q: float) -> float:
        return _log_mean(_mix_sum(x, n, q, thetas(q))) - level

    low, high = 0.0, x / n
    answers = _Answers(log_mix, rising=False, no=high, guess=high - _spread(x, n, level))
    for _ in range(50):
        q = (low + high) / 2
        if q <= 0.0:
            break
        if answers.ask(q):
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

    def log_mix(q: float) -> float:
        if q >= 1.0 or q <= 0.0:  # as _rejects answers without the mixture
            return math.inf if q >= 1.0 else -math.inf
        thetas = list(map(max, map(_sub, repeat(q), offsets), repeat(0.0)))  # max(q - f s, 0)
        return _log_mean(_mix_sum(x, n, q, thetas)) - level

    guess = low + _spread(x, n, level) if 0.0 < low < 1.0 else None
    answers = _Answers(log_mix, rising=True, no=low if 0.0 < low < 1.0 else None, guess=guess)
    for _ in range(50):
        q = (low + high) / 2
        if answers.ask(q):
            high = q
        else:
            low = q
        if high - low <= 1e-9:
            break
    return high


def _log_mean(total: float) -> float:
    """``log(total / len(SHIFTS))`` as :func:`_log_mix` takes it, and -inf where the mean
    underflows to 0 (there :func:`_log_mix` would raise; no level is that low)."""
    mean = total / len(SHIFTS)
    return math.log(mean) if mean > 0 else -math.inf


def _spread(x: float, n: float, level: float) -> float:
    """About how far the bounds lie from the observed rate ``x / n``: the normal
    approximation's half-width at the level plus the mixture's log 9. Only where
    :class:`_Answers` looks first (never an answer) depends on it."""
    p = min(max(x / n, 0.0), 1.0)
    return math.sqrt(2 * (level + math.log(len(SHIFTS))) * max(p * (1 - p), 1 / n) / n)


def _flat(value: float) -> float:
    """The secant's scale for the log mixture (see _Answers): the value itself within +-1,
    and beyond, ``2 sqrt(|value|) - 1`` with its sign (the log mixture grows about
    quadratically in q away from the change; continuous, with a continuous slope)."""
    if -1.0 <= value <= 1.0:
        return value
    return math.copysign(2.0 * math.sqrt(abs(value)) - 1.0, value)


_BAND = 1e-11
"""Relative distance from a rate whose answer was computed within which :class:`_Answers`
computes the answer rather than infer it (see there)."""
_CLOSE = 1e-10
"""Secant steps stop once the change is bracketed this closely: a tenth of the bisections'
final width, so a question rarely falls between (and is then computed)."""
_SECANTS = 40
"""Secant steps :class:`_Answers` takes at most for one bisection."""


class _Answers:
    """Answers a bisection's questions "is q rejected?" as the mixture itself would,
    mostly without computing the mixture at q.

    ``log_mix(q)`` is the log mixture at q minus the log level: q is rejected exactly
    when it is >= 0 (which :func:`_mix_reaches` decides too, only sooner: a running sum
    that exceeds its bar only grows). It is smooth and monotone in q (``rising``:
    rejecting q rejects every larger q; else every smaller q). So a few evaluations at
    secant points (Illinois' regula falsi) close in on where the answer changes, and a
    question on the far side of a rate found rejected (or not) gets that answer. Only
    questions within ``_BAND`` (relative) of the nearest such rates are computed: farther
    away the log mixture differs from the level by orders of magnitude more than its
    rounding (the log mixture's rounding is about 1e-13 or less, its slope in q at least
    about the count over q, so the rates where a computed answer could differ from the
    exact one lie within about 1e-16 relative of the change, against the band's 1e-11).
    The bisection asks the same questions and gets the same answers, so it returns the
    same float, with fewer than half the mixtures (tests/judge/test_early_pass.py
    compares it with the plain bisection on random inputs).
    """

    __slots__ = (
        "_guess",
        "_last",
        "_log_mix",
        "_no",
        "_no_value",
        "_rising",
        "_steps",
        "_yes",
        "_yes_value",
    )

    def __init__(
        self,
        log_mix: Callable[[float], float],
        *,
        rising: bool,
        no: float | None = None,
        guess: float | None = None,
    ) -> None:
        self._log_mix, self._rising = log_mix, rising
        self._guess = guess
        """Where to look first (an estimate of the change), or None."""
        self._yes: float | None = None
        """The rejected rate found nearest the change; :attr:`_yes_value` its log_mix (>= 0,
        halved by Illinois' rule)."""
        self._yes_value = math.nan
        self._no = no
        """The rate not rejected nearest the change (initially the bisection's far end)."""
        self._no_value = math.nan
        self._last = 0
        """Which end the last secant step moved: 1 the rejected one, -1 the other, 0 none."""
        self._steps = 0

    def _known(self, q: float) -> bool | None:
        yes, no = self._yes, self._no
        if self._rising:
            if yes is not None and q >= yes + _BAND * abs(yes):
                return True
            if no is not None and q <= no - _BAND * abs(no):
                return False
        else:
            if yes is not None and q <= yes - _BAND * abs(yes):
                return True
            if no is not None and q >= no + _BAND * abs(no):
                return False
        return None

    def _found(self, q: float, value: float) -> bool:
        """Record log_mix(q) = value; keep q when it is nearer the change. Rejected?"""
        rejected = value >= 0
        if rejected:
            yes = self._yes
            if yes is None or (q < yes if self._rising else q > yes):
                self._yes, self._yes_value = q, value
        else:
            no = self._no
            if no is None or (q > no if self._rising else q < no):
                self._no, self._no_value = q, value
        return rejected

    def _secant(self) -> bool:
        """One Illinois step between the nearest rates found; False when none is possible."""
        yes, no = self._yes, self._no
        if yes is None or no is None:
            return False
        if abs(no - yes) <= max(2 * _BAND * max(abs(yes), abs(no)), _CLOSE):
            return False  # as close as the band allows, or as the bisection needs
        if math.isnan(self._no_value):  # the given far end: its value once
            self._no_value = self._log_mix(no)
            if math.isnan(self._no_value) or self._no_value >= 0:
                return False  # not as the bisection assumes: no inference
        value_yes, value_no = self._yes_value, self._no_value
        point = math.nan
        if math.isfinite(value_yes) and math.isfinite(value_no) and value_yes > value_no:
            # The secant through v / sqrt(1 + |v|): far from the change the log mixture
            # grows about quadratically in q, so this is nearer a line (only where to
            # look next depends on it, never an answer).
            low, high = _flat(value_yes), _flat(value_no)
            point = yes - low * (no - yes) / (high - low)
        if not min(yes, no) < point < max(yes, no):
            point = (yes + no) / 2
            if not min(yes, no) < point < max(yes, no):
                return False
        value = self._log_mix(point)
        if math.isnan(value):
            return False
        moved = 1 if self._found(point, value) else -1
        if moved == self._last:  # the same end twice: halve the other's value (Illinois)
            if moved == 1:
                self._no_value /= 2
            else:
                self._yes_value /= 2
        self._last = moved
        return True

    def ask(self, q: float) -> bool:
        """Whether the mixture rejects q."""
        known = self._known(q)
        if known is not None:
            return known
        guess, self._guess = self._guess, None
        if guess is not None and 0.0 < guess < 1.0:
            value = self._log_mix(guess)
            if not math.isnan(value):
                self._found(guess, value)
            known = self._known(q)
            if known is not None:
                return known
        # Close in on the change as far as the band allows: the later questions are near it.
        while self._steps < _SECANTS and self._secant():
            self._steps += 1
        known = self._known(q)
        if known is not None:
            return known
        value = self._log_mix(q)
        if math.isnan(value):
            return False  # as the comparison with the level answers for NaN
        return self._found(q, value)


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
        cum_c, cum_b = (list(map(float, row)) for row in check.cumulative)
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
