"""Guards (absolute triggers with severities) and the rollback policy of a plan.

The defaults mirror the runbooks' decision criteria: error rate above 5% for
5 minutes is critical, above 1% for 15 minutes is major, memory growth above
50 MB/h is major. Rate guards (``error_rate``, ``ratio``) decide on evidence:
their condition holds only when a confidence bound says the rate is above the
threshold (docs/guards.md).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from rollsafe.config.types import Duration, Fraction, StrictModel

Severity = Literal["critical", "major", "minor"]
GuardMetric = Literal["error_rate", "latency", "memory_growth", "health", "ratio"]
RollbackLevel = Literal["flags", "release", "restore"]

UNITS: dict[str, str] = {
    "error_rate": "fraction of requests (0.05 = 5%)",
    "latency": "seconds at the quantile",
    "memory_growth": "MB per hour",
    "health": "failing instances",
    "ratio": "numerator / denominator",
}


class Guard(StrictModel):
    """Fires when ``metric`` stays above ``threshold`` at every look for ``for`` seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    metric: GuardMetric
    threshold: Annotated[float, Field(ge=0)]
    """In the metric's unit: see ``UNITS``."""
    severity: Severity
    for_: Annotated[Duration, Field(alias="for")] = 0.0
    grace: Duration = 0.0
    """Major only: how long a firing guard may take to clear before it rolls back."""
    window: Duration = 60.0
    """Rates, quantiles and slopes are computed over this trailing window."""
    arm: Literal["canary", "baseline", "all"] = "all"
    quantile: Fraction = 0.95
    numerator: str = "errors"
    denominator: str = "requests"
    min_requests: Annotated[int, Field(ge=0)] = 20
    """Requests in the window below which a rate guard has no value (and cannot fire)."""
    min_events: Annotated[int, Field(ge=1)] = 5
    """Rate guards: events (errors) in the window below which the condition cannot hold,
    whatever the rate: a guard never rolls back on one or two failed requests."""
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.01
    """Rate guards: the condition holds when the rate's lower confidence bound at this
    level (a confidence sequence over the window's requests) is above the threshold."""

    @model_validator(mode="after")
    def _grace_only_for_major(self) -> Guard:
        if self.grace and self.severity != "major":
            raise ValueError(f"grace applies to major guards only, this one is {self.severity}")
        return self


DEFAULT_GUARDS: tuple[Guard, ...] = (
    Guard(
        name="error-rate-critical",
        metric="error_rate",
        threshold=0.05,
        for_=300,
        window=300,
        severity="critical",
    ),
    Guard(
        name="error-rate-major",
        metric="error_rate",
        threshold=0.01,
        for_=900,
        window=900,
        severity="major",
        grace=0,
    ),
    Guard(
        name="memory-growth",
        metric="memory_growth",
        threshold=50,
        for_=600,
        window=3600,
        severity="major",
    ),
)


class Verification(StrictModel):
    """After each rollback level: health checks pass and guards stay quiet for this long."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    for_: Annotated[Duration, Field(alias="for")] = 60.0
    interval: Duration = 1.0
    settle: Duration = 2.0
    """The health analysis counts requests from this long after the level acted (at most
    half of ``for``): a flag turned off reaches polling clients, and requests already in
    flight on the bad path finish, within it. Health checks and guards look throughout."""


def _all_levels() -> list[RollbackLevel]:
    return ["flags", "release", "restore"]


class RollbackPolicy(StrictModel):
    levels: Annotated[list[RollbackLevel], Field(min_length=1)] = Field(default_factory=_all_levels)
    verify: Verification = Verification()
    watch: Duration = 0.0
    """After promotion, guards keep watching this long; a trip still rolls back."""

    @model_validator(mode="after")
    def _levels_in_order(self) -> RollbackPolicy:
        order = ["flags", "release", "restore"]
        positions = [order.index(level) for level in self.levels]
        if positions != sorted(set(positions)):
            raise ValueError(
                "levels must be distinct and in escalation order: flags, release, restore"
            )
        return self
