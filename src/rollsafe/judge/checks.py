"""One check per metric: increments in, a state ("fail", "pass", "inconclusive") and evidence out.

Every check holds an anytime-valid test (``rollsafe.stats``). A check fails when
its e-value against "the canary is not worse beyond the margins" reaches
``1 / (share x alpha)``, where the shares of alpha (:data:`ALPHA_WEIGHTS`, by
kind) sum to 1 over the checks of a judge: a weighted Bonferroni, so the chance
of any false failure over all checks and all looks is at most alpha. It passes when
its e-value against "the canary is worse" reaches ``1 / alpha``; the verdict
passes only if every check does (an intersection-union test needs no split).
"""

from __future__ import annotations

import math
from typing import Any

from rollsafe.judge.verdicts import MetricVerdict, Outcome

_SCREEN = 0.8
"""Shrinks the normal-approximation half-width of the screens below the exact bounds' width."""


ALPHA_WEIGHTS = {"ratio": 10.0, "histogram": 5.0, "slope": 4.0, "ceiling": 1.0}
"""Each check's weight in the split of alpha, by kind; a check's share is its weight over
the sum of its judge's. With the default metrics: the error rate gets half of alpha,
latency a quarter (as in an equal split over four), memory a fifth and the ceiling a
twentieth. Errors are the most direct harm, and their regressions the costliest to
detect with a baseline to compare against (docs/benchmarks.md, "Against the oracle");
the ceiling, in compare mode, fails only where the error rate comparison mostly fails
too. An unknown kind weighs as much as the ceiling."""


def alpha_shares(kinds: list[str]) -> list[float]:
    """Each check's share of alpha (summing to 1), from its kind's :data:`ALPHA_WEIGHTS`."""
    weights = [ALPHA_WEIGHTS.get(kind, 1.0) for kind in kinds]
    total = math.fsum(weights)
    return [weight / total for weight in weights]


class Levels:
    """Log thresholds of one check: it fails at ``1 / alpha_test``, ``alpha_test`` being its
    share of alpha (``1 / tests`` unless ``share`` is given); it passes at ``1 / alpha``."""

    __slots__ = ("alpha", "alpha_test", "fail", "pass_", "tests")

    def __init__(self, alpha: float, tests: int, share: float | None = None) -> None:
        self.alpha = alpha
        self.tests = max(tests, 1)
        if share is None:
            self.alpha_test = alpha / self.tests
            self.fail = math.log(self.tests / alpha)
        else:
            if not 0 < share <= 1:
                raise ValueError(f"share must be in (0, 1], got {share}")
            self.alpha_test = alpha * share
            self.fail = math.log(1 / self.alpha_test)
        self.pass_ = math.log(1 / alpha)


def e_value(log_e: float) -> float:
    return math.exp(min(log_e, 700.0))


def pct(value: float) -> str:
    return f"{100 * value:.3g}%"


def screen_half_width(events: float, trials: float, alpha: float) -> float:
    """A half-width narrower than :func:`rollsafe.stats.rate_bounds`' (screens skip exact work).

    Skipping only ever delays a decision to a later look; it never makes one.
    """
    p = events / trials
    level = math.log(1 / alpha)
    # Normal approximation, or for rare events the Poisson-like floor level / trials.
    return _SCREEN * max(math.sqrt(2 * p * (1 - p) * level / trials), 0.5 * level / trials)


class Check:
    """Base of the checks: a name, a kind, and the evidence from the last evaluation."""

    name: str
    kind: str

    def has_data(self) -> bool:
        """Both arms (health mode: any arm) contributed to this check."""
        raise NotImplementedError

    def fails(self, levels: Levels) -> bool:
        """The evidence that the canary is worse beyond the margins reached the threshold."""
        raise NotImplementedError

    def passes(self, levels: Levels) -> bool:
        """The evidence that the canary is not worse beyond the margins reached ``1/alpha``."""
        raise NotImplementedError

    def log_evidence(self) -> float:
        """The log e-value against the canary (fails at its own ``levels.fail``)."""
        raise NotImplementedError

    def snapshot(self) -> Any:
        """The current evidence, cheaply: references to immutable state, no computation."""
        raise NotImplementedError

    def describe(self, snapshot: Any, levels: Levels, state: Outcome) -> MetricVerdict:
        """The MetricVerdict of a :meth:`snapshot` (bounds and e-values are computed here)."""
        raise NotImplementedError
