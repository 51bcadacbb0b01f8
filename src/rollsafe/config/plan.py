"""Pydantic models of a rollout plan (``version: 1``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag, model_validator

from rollsafe.config.analysis import AnalysisConfig
from rollsafe.config.approvals import ApproveStep
from rollsafe.config.backup_sources import PostgresBackupSource
from rollsafe.config.command_target import CommandTarget
from rollsafe.config.drills import DrillPolicy
from rollsafe.config.guards import DEFAULT_GUARDS, Guard, RollbackPolicy
from rollsafe.config.health import HealthCheck
from rollsafe.config.load_step import LoadStep
from rollsafe.config.metric_sources import (
    CommandMetrics,
    HttpMetrics,
    PrometheusMetrics,
    ScrapeMetrics,
)
from rollsafe.config.notify import Notify
from rollsafe.config.risk import RiskConfig
from rollsafe.config.router_metrics import RouterMetrics
from rollsafe.config.routers import NginxRouter
from rollsafe.config.slo import PlanSlos
from rollsafe.config.test_gate import TestStep
from rollsafe.config.types import Duration, Percent, StrictModel, exactly_one_kind
from rollsafe.config.unleash_metrics import UnleashMetrics

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
Name = Annotated[str, Field(pattern=_NAME, max_length=100)]

PROCESS_PLACEHOLDERS = ("python", "port", "release", "release_dir", "instance", "root", "home")
"""What a process target fills into ``command`` and ``env`` values."""
_PROCESS_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _known_process_placeholders(text: str) -> str:
    """A ``{name}`` the target does not fill would reach the service verbatim: a typo."""
    for name in _PROCESS_PLACEHOLDER.findall(text):
        if name not in PROCESS_PLACEHOLDERS:
            known = ", ".join("{" + known + "}" for known in PROCESS_PLACEHOLDERS)
            raise ValueError(f"unknown placeholder {{{name}}} in {text!r}; known: {known}")
    return text


ProcessArg = Annotated[str, AfterValidator(_known_process_placeholders)]


class ProcessTarget(StrictModel):
    """Releases in ``<root>/releases/<version>/``; ``current`` links the live one.

    ``command`` is an argv list (never a shell) with placeholders ``{python}``,
    ``{port}``, ``{release}``, ``{release_dir}``, ``{instance}``, ``{root}``, ``{home}``.
    """

    type: Literal["process"] = "process"
    root: Path
    instances: Annotated[int, Field(ge=1, le=64)] = 2
    canary_instances: Annotated[int, Field(ge=1, le=64)] = 1
    """Instances a ``canary`` step starts beside the stable ones (with a ``router``)."""
    command: Annotated[list[ProcessArg], Field(min_length=1)]
    env: dict[str, ProcessArg] = Field(default_factory=dict)
    health: HealthCheck = HealthCheck()
    stop_timeout: Duration = 5.0


class FlagDefinition(StrictModel):
    """A flag the plan controls; created off if it does not exist."""

    name: Name
    description: str = ""


class SqliteBackupSource(StrictModel):
    type: Literal["sqlite"] = "sqlite"
    name: Name
    path: Path

    def resolved(self, base: Path) -> SqliteBackupSource:
        """A copy with a relative ``path`` resolved against ``base``."""
        return self.model_copy(update={"path": base / self.path})


class FilesBackupSource(StrictModel):
    type: Literal["files"] = "files"
    name: Name
    path: Path

    def resolved(self, base: Path) -> FilesBackupSource:
        """A copy with a relative ``path`` resolved against ``base``."""
        return self.model_copy(update={"path": base / self.path})


BackupSource = Annotated[
    SqliteBackupSource | FilesBackupSource | PostgresBackupSource, Field(discriminator="type")
]


class BackupStep(StrictModel):
    sources: list[Name] | None = None
    """Names from the plan's ``backups``; all of them when unset."""


class DeployStep(StrictModel):
    release: Annotated[str, Field(pattern=_NAME)]
    """Replaces the stable instances one by one; a canary of it, if any, then stops."""


class CanaryStep(StrictModel):
    """Run ``release`` on the target's canary instances beside the stable ones, and have
    the plan's ``router`` send it ``weight`` percent of requests."""

    release: Annotated[str, Field(pattern=_NAME)]
    weight: Annotated[int, Field(ge=0, le=100)]


class FlagStep(StrictModel):
    name: Name
    rollout: Percent


class AnalysisStep(StrictModel):
    duration: Duration
    mode: Literal["compare", "health"] = "compare"
    """``compare``: canary against baseline. ``health``: all traffic against absolute limits."""
    arms: Literal["metrics", "release"] = "metrics"
    """Which requests ``compare`` puts in each arm. ``metrics``: by the metrics' ``arm_label``
    (a flag's variant). ``release``: the canary release's against the stable release's,
    by the metrics' ``release_label`` (after a ``canary`` step)."""
    on_blind: Literal["pause", "rollback"] | None = None
    """This step's answer to blindness; unset: the plan's ``analysis.on_blind``."""


class PauseStep(StrictModel):
    duration: Duration | None = None
    """Wait this long, or until ``rollsafe rollout resume`` when unset."""


class PromoteStep(StrictModel):
    pass


STEP_KINDS = (
    "backup",
    "deploy",
    "canary",
    "flag",
    "analysis",
    "pause",
    "promote",
    "test",
    "approve",
    "load",
)


class Step(StrictModel):
    """One list item with exactly one key, as in ``- flag: {name: x, rollout: 10}``."""

    backup: BackupStep | None = None
    deploy: DeployStep | None = None
    canary: CanaryStep | None = None
    flag: FlagStep | None = None
    analysis: AnalysisStep | None = None
    pause: PauseStep | None = None
    promote: PromoteStep | None = None
    test: TestStep | None = None
    approve: ApproveStep | None = None
    load: LoadStep | None = None

    @model_validator(mode="before")
    @classmethod
    def _exactly_one_kind(cls, data: Any) -> Any:
        return exactly_one_kind(data, STEP_KINDS)

    @property
    def kind(self) -> str:
        return next(kind for kind in STEP_KINDS if getattr(self, kind) is not None)

    @property
    def spec(self) -> StrictModel:
        spec: StrictModel = getattr(self, self.kind)
        return spec

    def describe(self) -> str:
        fields = self.spec.model_dump(exclude_none=True, mode="json")
        args = " ".join(f"{key}={value}" for key, value in fields.items())
        return f"{self.kind} {args}".strip()


def _tag(field: str, default: str) -> Discriminator:
    """Discriminate a union by ``field``, which plans may leave out for the default kind."""

    def tag(value: Any) -> str:
        if isinstance(value, dict):
            return str(value.get(field, default))
        return str(getattr(value, field, default))

    return Discriminator(tag)


Target = Annotated[
    Annotated[ProcessTarget, Tag("process")] | Annotated[CommandTarget, Tag("command")],
    _tag("type", "process"),
]
Metrics = Annotated[
    Annotated[ScrapeMetrics, Tag("scrape")]
    | Annotated[PrometheusMetrics, Tag("prometheus")]
    | Annotated[CommandMetrics, Tag("command")]
    | Annotated[HttpMetrics, Tag("http")]
    | Annotated[RouterMetrics, Tag("router")]
    | Annotated[UnleashMetrics, Tag("unleash")],
    _tag("provider", "scrape"),
]


class Plan(StrictModel):
    """A rollout plan: what to ship, where, how to watch it and in which steps."""

    version: Literal[1]
    service: Name
    target: Target
    flags: list[FlagDefinition] = Field(default_factory=list)
    backups: list[BackupSource] = Field(default_factory=list)
    metrics: Metrics = ScrapeMetrics()
    router: NginxRouter | None = None
    """What splits traffic between stable and canary releases (``canary`` steps need one)."""
    analysis: AnalysisConfig = AnalysisConfig()
    guards: list[Guard] = Field(default_factory=lambda: list(DEFAULT_GUARDS))
    rollback: RollbackPolicy = RollbackPolicy()
    notify: list[Notify] = Field(default_factory=list)
    slos: PlanSlos | None = None
    """Service-level objectives: burn-rate guards and the error-budget policy (docs/slo.md)."""
    risk: RiskConfig | None = None
    """How to score the change's regression risk, and the caution each level adds."""
    steps: Annotated[list[Step], Field(min_length=1)]
    drill: DrillPolicy = DrillPolicy()
    """Rollback drills (``rollsafe drill``): levels, time targets, required freshness."""

    @model_validator(mode="before")
    @classmethod
    def _router_metrics_by_default(cls, data: Any) -> Any:
        """A plan with a router and no ``metrics`` measures where users are: at the router."""
        if not isinstance(data, dict) or data.get("router") is None or "metrics" in data:
            return data
        target = data.get("target")
        if isinstance(target, dict) and target.get("type", "process") == "process":
            return {**data, "metrics": {"provider": "router"}}
        return data

    def unresolved_references(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Steps naming flags, backup sources or a router the plan does not declare, with
        their fields."""
        flag_names = {flag.name for flag in self.flags}
        backup_names = {source.name for source in self.backups}
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if isinstance(self.metrics, RouterMetrics) and (
            self.router is None or not isinstance(self.target, ProcessTarget)
        ):
            problems.append(
                (
                    ("metrics", "provider"),
                    "metrics from the router need a process target and a router (add router:)",
                )
            )
        for index, step in enumerate(self.steps):
            if index and self.steps[index - 1].promote is not None:
                problems.append(
                    (("steps", index), "a step after promote would never run: promote ends a plan")
                )
            if step.canary is not None and (
                self.router is None or not isinstance(self.target, ProcessTarget)
            ):
                problems.append(
                    (
                        ("steps", index, "canary"),
                        "a canary step needs a process target and a router (add router:)",
                    )
                )
            releases_compared = step.analysis is not None and step.analysis.arms == "release"
            if releases_compared and not any(s.canary for s in self.steps[:index]):
                problems.append(
                    (
                        ("steps", index, "analysis", "arms"),
                        "arms: release compares a canary release: put a canary step before",
                    )
                )
            if step.flag is not None and step.flag.name not in flag_names:
                problems.append(
                    (
                        ("steps", index, "flag", "name"),
                        f"flag {step.flag.name!r} is not declared under flags",
                    )
                )
            for position, name in enumerate(step.backup.sources or [] if step.backup else []):
                if name not in backup_names:
                    problems.append(
                        (
                            ("steps", index, "backup", "sources", position),
                            f"backup source {name!r} is not declared under backups",
                        )
                    )
        return problems
