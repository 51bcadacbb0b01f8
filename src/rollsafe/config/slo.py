"""Service-level objectives: what a plan's ``slos:`` section (or an SLO file) holds.

An objective says which requests are good (``availability``: not a 5xx;
``latency``: answered within ``threshold``), the share that must be
(``target``, a fraction in (0, 1)) and over which ``period`` (e.g. 28d). The
error budget is ``1 - target`` of the period's requests. Each objective's
``windows`` are its burn-rate alerts: a tier fires when the error rate over
both its long and its short window is above ``burn`` times the budget's
sustainable rate (Google's SRE workbook, ch. 5; Sloth; Pyrra). The presets:

- ``sre-workbook``: 14.4x over 1h/5m and 6x over 6h/30m page, 1x over 3d/6h tickets;
- ``sloth`` (the default): the workbook's tiers plus 3x over 1d/2h (ticket);
- ``pyrra``: 14x 1h/5m for 2m, 7x 6h/30m for 15m (page), 2x 1d/2h for 1h,
  1x 4d/6h for 3h (ticket).

``compress`` divides every duration (windows, ``for``, period) so that what
takes hours in production takes seconds in a test or a drill: ``compress: 60``
turns 1h/5m into 60s/5s. The burn-rate maths is unchanged by it.

The section may also name a ``file`` with more objectives (``SloFile``), so the
plans of one service share them; ``rollsafe slo rules`` reads either kind of file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from rollsafe.config.promql import check
from rollsafe.config.types import StrictModel, parse_duration

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
_DAYS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(d|w)\s*$")
_DAY_SECONDS = {"d": 86400.0, "w": 604800.0}
WINDOW_PLACEHOLDER = "{window}"


def parse_long_duration(value: Any) -> float:
    """Seconds from ``28d`` or ``4w``, or from what plans' durations accept (``6h``, ``5m``,
    ``30s``, ``250ms``, a bare number)."""
    if isinstance(value, str) and (match := _DAYS.match(value)):
        return float(match.group(1)) * _DAY_SECONDS[match.group(2)]
    try:
        return parse_duration(value)
    except ValueError as error:
        raise ValueError(f"{error} (or days and weeks: 28d, 4w)") from None


LongDuration = Annotated[float, BeforeValidator(parse_long_duration)]
"""Seconds; written as ``28d``, ``6h``, ``5m``... (days and weeks allowed)."""


def _check_sli_query(template: str) -> str:
    """A query with ``{window}`` in its range brackets, valid PromQL once it is filled."""
    if WINDOW_PLACEHOLDER not in template:
        raise ValueError("must use {window} in a range, e.g. rate(x_total[{window}])")
    others = set(re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", template)) - {"window"}
    if others:
        raise ValueError(f"unknown placeholder {{{sorted(others)[0]}}} (known: {{window}})")
    check(template.replace(WINDOW_PLACEHOLDER, "5m"))
    return template


SliQuery = Annotated[str, Field(min_length=1, max_length=4000), AfterValidator(_check_sli_query)]


class Tier(StrictModel):
    """One multiwindow burn-rate alert: both windows burn faster than ``burn`` x budget."""

    burn: Annotated[float, Field(gt=0)]
    long: LongDuration
    short: LongDuration
    for_: Annotated[LongDuration, Field(alias="for")] = 0.0
    severity: Literal["page", "ticket"]
    action: Literal["critical", "major", "minor"] | None = None
    """What a trip does to a rollout, as a guard's severity would: critical rolls back
    now, major rolls back (no grace), minor only journals. Unset: page is critical,
    ticket is major."""

    @model_validator(mode="after")
    def _short_inside_long(self) -> Tier:
        if not 0 < self.short < self.long:
            raise ValueError(
                f"short window ({self.short:g}s) must be shorter than the long one ({self.long:g}s)"
            )
        return self

    @property
    def guard_severity(self) -> str:
        return self.action or ("critical" if self.severity == "page" else "major")


def _tier(burn: float, long: str, short: str, severity: str, for_: str = "0s") -> Tier:
    return Tier.model_validate(
        {"burn": burn, "long": long, "short": short, "severity": severity, "for": for_}
    )


WINDOW_PRESETS: dict[str, tuple[Tier, ...]] = {
    "sre-workbook": (
        _tier(14.4, "1h", "5m", "page"),
        _tier(6, "6h", "30m", "page"),
        _tier(1, "3d", "6h", "ticket"),
    ),
    "sloth": (
        _tier(14.4, "1h", "5m", "page"),
        _tier(6, "6h", "30m", "page"),
        _tier(3, "1d", "2h", "ticket"),
        _tier(1, "3d", "6h", "ticket"),
    ),
    "pyrra": (
        _tier(14, "1h", "5m", "page", "2m"),
        _tier(7, "6h", "30m", "page", "15m"),
        _tier(2, "1d", "2h", "ticket", "1h"),
        _tier(1, "4d", "6h", "ticket", "3h"),
    ),
}


def _windows(value: Any) -> Any:
    """A preset's name becomes its tiers; anything else is validated as a list of tiers."""
    if isinstance(value, str):
        if value not in WINDOW_PRESETS:
            known = ", ".join(WINDOW_PRESETS)
            raise ValueError(f"unknown windows {value!r}; known presets: {known}, or a list")
        return list(WINDOW_PRESETS[value])
    return value


class SliQueries(StrictModel):
    """Prometheus queries of the SLI, each a rate over ``{window}`` (Sloth's shape).

    ``total`` and one of ``errors`` (bad events) or ``good``. By default they are
    built from rollsafe's metric conventions (``http_requests_total`` with a 5xx
    ``status``; ``http_request_duration_seconds_bucket`` with ``le`` = threshold).
    """

    total: SliQuery
    errors: SliQuery | None = None
    good: SliQuery | None = None

    @model_validator(mode="after")
    def _errors_or_good(self) -> SliQueries:
        if (self.errors is None) == (self.good is None):
            raise ValueError("give exactly one of errors and good, beside total")
        return self


class Objective(StrictModel):
    """One SLO: ``target`` of ``sli``-good requests over ``period``."""

    name: Annotated[str, Field(pattern=_NAME, max_length=100)]
    sli: Literal["availability", "latency"] = "availability"
    target: float
    """The share of good requests, strictly between 0 and 1 (0.999 = 99.9%)."""
    period: LongDuration = 28 * 86400.0
    threshold: LongDuration | None = None
    """Latency SLOs: a good request is answered within this (a histogram bucket bound)."""
    windows: Annotated[list[Tier], BeforeValidator(_windows), Field(min_length=1)] = Field(
        default_factory=lambda: list(WINDOW_PRESETS["sloth"])
    )
    arm: Literal["all", "canary", "baseline"] = "all"
    """Whose requests the rollout's burn-rate guards count: everyone's by default."""
    queries: SliQueries | None = None
    min_events: Annotated[int, Field(ge=1)] = 5
    """Bad requests in a long window below which a burn-rate guard cannot hold."""
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.01
    """The burn-rate guards' confidence: the error ratio's lower bound at this level counts."""

    @field_validator("target")
    @classmethod
    def _a_fraction(cls, target: float) -> float:
        if not 0 < target < 1:
            raise ValueError(
                f"must be a fraction strictly between 0 and 1 (0.999 = 99.9%), got {target!r}"
            )
        return target

    @model_validator(mode="after")
    def _consistent(self) -> Objective:
        if self.sli == "latency" and self.threshold is None:
            raise ValueError("a latency SLO needs a threshold (e.g. threshold: 250ms)")
        if self.sli == "availability" and self.threshold is not None:
            raise ValueError("threshold applies to latency SLOs only")
        if self.period <= 0:
            raise ValueError("period must be longer than 0s")
        for index, tier in enumerate(self.windows):
            if tier.long > self.period:
                raise ValueError(
                    f"windows[{index}]: long window {tier.long:g}s is longer than the period "
                    f"{self.period:g}s"
                )
            if tier.burn * tier.long > self.period:
                raise ValueError(
                    f"windows[{index}]: {tier.burn:g}x over {tier.long:g}s would need more than "
                    "the whole budget: it could never fire"
                )
        return self

    @property
    def budget(self) -> float:
        """The error budget as a share of requests: ``1 - target``."""
        return 1.0 - self.target


class BudgetPolicy(StrictModel):
    """Error-budget policy: below ``floor`` remaining, new rollouts wait for an override."""

    floor: Annotated[float, Field(ge=0, lt=1)] = 0.0
    """The share of the period's budget that must remain (0.25 = a quarter); 0: no freeze."""
    prometheus: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = None
    """Where the SLI's history is read; unset: the plan's Prometheus metrics URL."""
    timeout: LongDuration = 5.0
    on_unknown: Literal["wait", "start"] = "wait"
    """When the remaining budget cannot be read: wait for an override (missing evidence
    never passes), or start anyway."""


class SloSettings(StrictModel):
    """What an SLO file and a plan's ``slos:`` section share."""

    objectives: list[Objective] = Field(default_factory=list)
    selector: dict[Annotated[str, Field(pattern=_LABEL_NAME)], str] = Field(default_factory=dict)
    """Labels of the service's series in Prometheus (``{job: shop}``) for the default
    queries; unset: the plan's Prometheus ``selector``."""
    compress: Annotated[float, Field(ge=1)] = 1.0
    """Divide every duration by this (tests and drills; 1 in production)."""
    budget: BudgetPolicy = BudgetPolicy()

    @model_validator(mode="after")
    def _unique_names(self) -> SloSettings:
        names = [objective.name for objective in self.objectives]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"objective names must be unique: {', '.join(duplicates)}")
        return self


def _list_is_objectives(value: Any) -> Any:
    """``slos: [...]`` is short for ``slos: {objectives: [...]}``."""
    return {"objectives": value} if isinstance(value, list) else value


class SloSection(SloSettings):
    """A plan's ``slos:``: objectives inline and/or from ``file`` (relative to the plan)."""

    file: Path | None = None


PlanSlos = Annotated[SloSection, BeforeValidator(_list_is_objectives)]


class SloFile(SloSettings):
    """A file of SLOs (``version: 1``) that plans reference with ``slos: {file: ...}``."""

    version: Literal[1]
    service: Annotated[str, Field(pattern=_NAME, max_length=100)]


def is_slo_document(data: Any) -> bool:
    """An SLO file has no ``steps``: that is how ``rollsafe slo rules`` tells it from a plan."""
    return isinstance(data, dict) and "steps" not in data and "objectives" in data
