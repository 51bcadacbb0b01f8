"""The ``analysis`` section of a plan: how the judge compares canary and baseline."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from rollsafe.config.types import Duration, Fraction, StrictModel


class RatioMetric(StrictModel):
    """A rate such as errors/requests; fails only when the canary is worse beyond both margins."""

    kind: Literal["ratio"] = "ratio"
    name: str = "error_rate"
    numerator: str = "errors"
    denominator: str = "requests"
    relative_margin: Annotated[float, Field(ge=0)] = 0.2
    absolute_margin: Fraction = 0.001


class HistogramMetric(StrictModel):
    """Latency from cumulative histogram buckets; fails when the canary is stochastically slower."""

    kind: Literal["histogram"] = "histogram"
    name: str = "latency"
    field: str = "latency_seconds_bucket"
    relative_margin: Annotated[float, Field(ge=0)] = 0.1


class SlopeMetric(StrictModel):
    """A gauge's growth rate (memory); fails when the canary grows faster than the limit."""

    kind: Literal["slope"] = "slope"
    name: str = "memory_growth"
    field: str = "memory_bytes"
    limit_bytes_per_hour: Annotated[float, Field(gt=0)] = 50e6


Metric = Annotated[RatioMetric | HistogramMetric | SlopeMetric, Field(discriminator="kind")]


class AnalysisConfig(StrictModel):
    """Judge settings. With ``metrics`` unset, every field present in the data gets a default."""

    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.01
    metrics: list[Metric] | None = None
    min_requests: Annotated[int, Field(ge=0)] = 50
    """Requests per arm below which a verdict stays inconclusive."""
    max_error_rate: Fraction = 0.05
    """Absolute ceiling on the canary's error rate, whatever the baseline does."""
    on_inconclusive: Literal["pause", "rollback"] = "pause"
    """What an analysis step does when its duration ends without a final verdict."""
    interval: Duration = 1.0
    """Seconds between looks at the metric source."""
