"""A health step's reference: the error rate the baseline showed in the rollout's compare steps.

A health-mode step has no baseline arm left to compare with (everyone is on the
new path), so on its own it can only hold the release to the configured
``max_error_rate``. Earlier compare steps of the same rollout measured the old
path's error rate, though: a release at 7% errors where the old path had 0 in 600
requests minutes earlier is a regression even under a 5% ceiling.

The reference turns those counts into a stricter ceiling, anytime-valid:

- ``bound``: the upper end of ``rate_bounds(events, trials, alpha)``, a confidence
  sequence for the baseline's rate, so it is valid however the compare steps
  ended (at a verdict, a pause, a crash).
- ``ceiling``: ``bound x (1 + relative_margin) + absolute_margin`` (the error
  metric's margins, as in the compare steps), capped by ``max_error_rate``.

Alpha is spent honestly: the bound takes ``alpha`` (half the judge's, by default)
and the health test of the ceiling gets the rest. If the release's error rate is
within the margins of the baseline's, a false failure needs the bound to be
wrong (chance <= the bound's alpha) or the test to fail falsely at a ceiling above
the true rate (<= the test's alpha): together at most the judge's alpha.

A reference that does not lower the ceiling (too little baseline traffic, or a
baseline with errors of its own) is not applied, and then the test keeps all of
alpha: the choice depends on the reference's counts only, never on the health
step's data, so the behaviour without a useful reference is exactly the old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from rollsafe.config.analysis import AnalysisConfig, RatioMetric
from rollsafe.journal.payloads.verdicts import ReferenceRecord
from rollsafe.stats import rate_bounds

REFERENCE_SHARE = 0.5
"""The share of the judge's alpha the reference bound takes when it is applied."""


@dataclass(frozen=True)
class RateReference:
    """Baseline error counts from earlier compare steps, and the ceiling they imply."""

    events: float
    trials: float
    steps: int
    alpha: float
    """The bound's alpha: the judge's alpha x :data:`REFERENCE_SHARE`."""
    relative_margin: float
    absolute_margin: float
    configured_ceiling: float

    @classmethod
    def of(cls, config: AnalysisConfig, events: float, trials: float, steps: int) -> RateReference:
        """The reference for ``config``'s error metric (:func:`error_metric`) and ceiling."""
        metric = error_metric(config)
        return cls(
            events,
            trials,
            steps,
            config.alpha * REFERENCE_SHARE,
            metric.relative_margin,
            metric.absolute_margin,
            config.max_error_rate,
        )

    @classmethod
    def from_record(cls, record: ReferenceRecord) -> RateReference:
        """The reference a health step journaled (the charts replay its judge with it)."""
        return cls(
            record["events"],
            record["trials"],
            record["steps"],
            record["alpha"],
            record["relative_margin"],
            record["absolute_margin"],
            record["configured_ceiling"],
        )

    @cached_property
    def bound(self) -> float:
        return rate_bounds(self.events, self.trials, self.alpha)[1]

    @cached_property
    def derived_ceiling(self) -> float:
        return min(1.0, self.bound * (1 + self.relative_margin) + self.absolute_margin)

    @property
    def applied(self) -> bool:
        return self.derived_ceiling < self.configured_ceiling

    @property
    def ceiling(self) -> float:
        return min(self.derived_ceiling, self.configured_ceiling)

    def describe(self) -> str:
        """Where the ceiling comes from, for the metric's reason."""
        return (
            f"the baseline's {self.events:g}/{self.trials:g} in {self.steps} compare "
            f"step{'s' if self.steps != 1 else ''}: rate <= {100 * self.bound:.3g}%"
        )

    def to_dict(self) -> ReferenceRecord:
        return {
            "steps": self.steps,
            "events": self.events,
            "trials": self.trials,
            "alpha": self.alpha,
            "bound": self.bound,
            "relative_margin": self.relative_margin,
            "absolute_margin": self.absolute_margin,
            "derived_ceiling": self.derived_ceiling,
            "configured_ceiling": self.configured_ceiling,
            "ceiling": self.ceiling,
            "applied": self.applied,
        }


def error_metric(config: AnalysisConfig) -> RatioMetric:
    """The rate the health ceiling judges: the first ratio metric, or the default one."""
    for metric in config.metrics or ():
        if isinstance(metric, RatioMetric):
            return metric
    return RatioMetric()
