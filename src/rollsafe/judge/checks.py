"""One check per metric: increments in, a state ("fail", "pass", "inconclusive") and evidence out.

Every check holds an anytime-valid test (``rollsafe.stats``). A check fails when
its e-value against "the canary is not worse beyond the margins" reaches
``tests / alpha`` (Bonferroni over the checks of a judge, so the chance of any
false failure over all checks and all looks is at most alpha). It passes when
its e-value against "the canary is worse" reaches ``1 / alpha``; the verdict
passes only if every check does (an intersection-union test needs no split).
"""

from __future__ import annotations

import math
from typing import Any

from rollsafe.judge.verdicts import MetricVerdict, Outcome

_SCREEN = 0.8
"""Shrinks the normal-approximation half-width of the screens below the exact bounds' width."""


class Levels:
    """Log thresholds shared by the checks of one judge."""

    __slots__ = ("alpha", "alpha_test", "fail", "pass_", "tests")

    def __init__(self, alpha: float, tests: int) -> None:
        self.alpha = alpha
        self.tests = max(tests, 1)
        self.alpha_test = alpha / self.tests
        self.fail = math.log(self.tests / alpha)
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
        """The log e-value against the canary, Bonferroni-comparable with ``levels.fail``."""
        raise NotImplementedError

    def snapshot(self) -> Any:
        """The current evidence, cheaply: references to immutable state, no computation."""
        raise NotImplementedError

    def describe(self, snapshot: Any, levels: Levels, state: Outcome) -> MetricVerdict:
        """The MetricVerdict of a :meth:`snapshot` (bounds and e-values are computed here)."""
        raise NotImplementedError
