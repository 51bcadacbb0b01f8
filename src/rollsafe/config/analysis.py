"""The ``analysis`` section of a plan: how the judge compares canary and baseline.

docs/judge.md explains each field's statistical meaning.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from rollsafe.config.early_pass import EarlyPass
from rollsafe.config.types import Duration, Fraction, StrictModel


class RatioMetric(StrictModel):
    """A rate such as errors/requests; fails only when the canary is worse beyond both margins.

    Worse means: canary rate > baseline rate x (1 + relative_margin) *and*
    canary rate > baseline rate + absolute_margin.
    """

    kind: Literal["ratio"] = "ratio"
    name: str = "error_rate"
    numerator: str = "errors"
    denominator: str = "requests"
    relative_margin: Annotated[float, Field(ge=0)] = 0.2
    absolute_margin: Fraction = 0.001


class HistogramMetric(StrictModel):
    """Latency from cumulative histogram buckets; fails when the canary is stochastically slower.

    Slower means: for some bucket bound, the canary's fraction of requests slower
    than the bound exceeds the baseline's by both margins (relative and absolute),
    and at the quantile this compares the canary is slower than the baseline by
    both slowdown margins (practical significance).
    """

    kind: Literal["histogram"] = "histogram"
    name: str = "latency"
    field: str = "latency_seconds_bucket"
    relative_margin: Annotated[float, Field(ge=0)] = 0.1
    absolute_margin: Fraction = 0.001
    slowdown_margin: Duration = 0.005
    """Practical significance, absolute: at the compared quantile, the canary must be
    slower than the baseline by more than this many seconds (default 5 ms) for a
    regression to count. Below it a difference fails no step and does not lean one
    towards rollback: a freshly started process 0.6 ms slower at the median is no
    regression to any user (docs/judge.md)."""
    slowdown_relative_margin: Annotated[float, Field(ge=0)] = 0.1
    """Practical significance, relative: ... and by more than this fraction of the
    baseline's value at that quantile (default 10%)."""


class SlopeMetric(StrictModel):
    """A gauge's growth rate (memory); fails when the canary grows faster than the limit.

    Compared as the growth of (canary - baseline), in blocks of ``block`` seconds.
    """

    kind: Literal["slope"] = "slope"
    name: str = "memory_growth"
    field: str = "memory_bytes"
    limit_bytes_per_hour: Annotated[float, Field(gt=0)] = 50e6
    block: Annotated[Duration, Field(gt=0)] = 10.0
    """Seconds per increment of the growth test; noise is assumed independent across blocks."""
    warmup: Annotated[Duration, Field(ge=0)] = 120.0
    """Memory growth counts from this long after the analysis starts and after a restart of
    either arm (a fresh process grows while it warms up; that is no leak)."""


Metric = Annotated[RatioMetric | HistogramMetric | SlopeMetric, Field(discriminator="kind")]


class AnalysisConfig(StrictModel):
    """Judge settings. With ``metrics`` unset, every field present in the data gets a default."""

    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.01
    """Bound on the probability of a false rollback over all metrics and all looks."""
    metrics: list[Metric] | None = None
    min_requests: Annotated[int, Field(ge=0)] = 50
    """Requests per arm below which a verdict cannot pass (it may still fail)."""
    max_error_rate: Fraction = 0.05
    """Absolute ceiling on the canary's error rate, whatever the baseline does."""
    conclude_max_e: Annotated[float, Field(ge=1)] = 3.0
    """At the end of a step's duration, a metric whose evidence against the canary
    (its e-value) reached this is a warning sign: the step ends inconclusive, not passed."""
    on_inconclusive: Literal["pause", "rollback"] = "pause"
    """What an analysis step does when its duration ends without a final verdict."""
    interval: Duration = 1.0
    """Seconds between looks at the metric source."""
    warmup: Duration = 10.0
    """Latency warm-up: the first ``warmup`` seconds of a step's analysis, and of each
    arm after a restart (a counter reset), add no latency evidence. A freshly started
    process is slow for its first requests (imports, caches, connection pools) and
    would be compared unfairly with a warm baseline. Errors count from the start: an
    error during warm-up is an error to its user. Steps shorter than this end with no
    latency evidence, hence inconclusive (docs/judge.md)."""
    on_blind: Literal["pause", "rollback"] = "pause"
    """What the rollout does when the guards or an analysis step have had no data for
    ``blind_after``: the metric source fails every look (a 404, a timeout, garbage).

    ``pause`` is the default because blindness is evidence about the monitoring, not
    about the release: rolling back would undo a release that may be healthy each
    time Prometheus or a metrics endpoint hiccups, and rollback is itself a change.
    A pause freezes exposure where it is (no further step runs) and asks a person,
    who gets the notification. Choose ``rollback`` where exposing the canary unseen
    is worse than undoing it. An analysis step may override it (its ``on_blind``)."""
    blind_after: Duration = 30.0
    """How long without any successful look counts as blind (a failed look or two is
    ordinary; each is journaled anyway)."""
    early_pass: EarlyPass = EarlyPass()
    """When a healthy step may end before its duration: anytime-valid evidence that the
    canary is no worse than these margins on every metric (docs/judge.md, Early pass)."""
    extend: Duration = 0.0
    """An analysis step still inconclusive at the end of its duration keeps looking up
    to this much longer before ``on_inconclusive`` applies: it ends as soon as the
    end-of-step verdict passes, the judge fails it, or (with ``rollback_min_e``) the
    evidence against the canary is meaningful. A step short of ``min_requests``, as on
    a busy machine, gets the traffic it lacked instead of an undecided verdict."""
    rollback_min_e: Annotated[float, Field(ge=1)] | None = None
    """With ``on_inconclusive: rollback``: an inconclusive step rolls back only on
    meaningful evidence, some metric whose e-value against the canary reached this
    *and* whose excess is practically significant (``rollback_min_events``). Weaker
    evidence (none, too little traffic, one error among fifty requests) does not roll
    back: the step ends without a verdict and the rollout goes on, journaled as such;
    the guards and later steps keep watching. Unset: every inconclusive step rolls
    back (docs/judge.md, "Inconclusive steps")."""
    rollback_min_events: Annotated[float, Field(ge=0)] = 3.0
    """Practical significance for ``rollback_min_e``: a rate or latency metric counts
    only when the canary has at least this many more errors (or slow requests) than
    the baseline's rate predicts for its traffic, or than ``max_error_rate`` allows
    for the ceiling. Growth metrics count on their e-value alone."""

    @model_validator(mode="after")
    def _unique_metric_names(self) -> AnalysisConfig:
        names = [metric.name for metric in self.metrics or []]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"metric names must be unique; repeated: {', '.join(duplicates)}")
        return self
