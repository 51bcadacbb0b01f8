"""Pipeline files: one release promoted through stages (dev → staging → production).

Each stage is a rollout of its own plan, in its own home and store, optionally with
``overrides`` merged into the plan; after the rollout promotes, the stage's gates
run (a healthy soak, a command such as a test suite, a load comparison, a person's
approval) and only then may the release move to the stages after it.
``docs/pipelines.md`` describes the file; bad input is refused with file:line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, model_validator

from rollsafe.config import reading
from rollsafe.config.load_step import LoadStep
from rollsafe.config.loading import _locate, _validated, load_plan  # one locator for all files
from rollsafe.config.plan import Name
from rollsafe.config.types import Duration, StrictModel, exactly_one_kind
from rollsafe.errors import PlanError

_RELEASE = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
GATE_KINDS = ("soak", "command", "load", "approval")


class SoakGate(StrictModel):
    """The stage's target answers its health checks at every look for ``duration``."""

    duration: Annotated[Duration, Field(gt=0)]
    interval: Annotated[Duration, Field(gt=0)] = 1.0


class CommandGate(StrictModel):
    """An argv list (a test suite, a smoke test) that must exit 0; never a shell.

    Runs in the pipeline file's folder with ``ROLLSAFE_STAGE`` and ``ROLLSAFE_RELEASE``
    set."""

    command: Annotated[list[str], Field(min_length=1)]
    timeout: Annotated[Duration, Field(gt=0)] = 300.0


class ApprovalGate(StrictModel):
    """A person runs ``rollsafe pipeline approve FILE STAGE``; the pipeline waits."""


class Gate(StrictModel):
    """One list item with exactly one key, as in ``- soak: {duration: 48h}``."""

    soak: SoakGate | None = None
    command: CommandGate | None = None
    load: LoadStep | None = None
    approval: ApprovalGate | None = None

    @model_validator(mode="before")
    @classmethod
    def _exactly_one_kind(cls, data: Any) -> Any:
        return exactly_one_kind(data, GATE_KINDS)

    @model_validator(mode="after")
    def _load_needs_urls(self) -> Gate:
        if self.load is not None and self.load.baseline is None:
            raise ValueError("a load gate needs baseline and candidate URLs")
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in GATE_KINDS if getattr(self, kind) is not None)


class Stage(StrictModel):
    name: Name
    plan: Path
    """The stage's rollout plan, relative to the pipeline file."""
    overrides: dict[str, Any] = Field(default_factory=dict)
    """Merged into the plan (mappings key by key, anything else replaced)."""
    home: Path | None = None
    """The stage's state directory; default ``.rollsafe-<stage>`` beside the pipeline file."""
    store: str | None = None
    """The stage's store (a postgresql:// URL or SQLite file); default in its home."""
    after: Name | None = None
    """The stage that must promote first; default the one listed before (none for the first)."""
    soak: Duration = 0.0
    """Bake time after the stage promotes, its target healthy throughout, before its gates."""
    gates: list[Gate] = Field(default_factory=list)
    rollback_level: Annotated[int, Field(ge=1, le=3)] = 2
    """How far to roll the stage back when a gate fails after it promoted."""


class Pipeline(StrictModel):
    version: Literal[1]
    name: Name
    release: Annotated[str, Field(pattern=_RELEASE)] | None = None
    """Set into every deploy and canary step of every stage's plan; ``--release`` wins."""
    stages: Annotated[list[Stage], Field(min_length=1)]

    def upstream(self, index: int) -> str | None:
        stage = self.stages[index]
        if stage.after is not None:
            return stage.after
        return self.stages[index - 1].name if index else None

    def order(self) -> list[Stage]:
        """Stages with each after the one it waits for (checked acyclic when loaded)."""
        done: list[Stage] = []
        names: set[str | None] = {None}
        while len(done) < len(self.stages):
            for index, stage in enumerate(self.stages):
                if stage not in done and self.upstream(index) in names:
                    done.append(stage)
                    names.add(stage.name)
        return done

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        names = [stage.name for stage in self.stages]
        found: list[tuple[tuple[str | int, ...], str]] = []
        for index, name in enumerate(names):
            if name in names[:index]:
                found.append((("stages", index, "name"), f"stage {name!r} is named twice"))
        for index, stage in enumerate(self.stages):
            if stage.after is not None and stage.after not in names:
                found.append(
                    (("stages", index, "after"), f"unknown stage {stage.after!r}; known: {names}")
                )
        if found:
            return found
        upstream = {stage.name: self.upstream(i) for i, stage in enumerate(self.stages)}
        for index, stage in enumerate(self.stages):
            seen = [stage.name]
            current = upstream[stage.name]
            while current is not None:
                if current in seen:
                    cycle = " → ".join([*seen, current])
                    return [(("stages", index, "after"), f"stages wait for each other: {cycle}")]
                seen.append(current)
                current = upstream[current]
        return found


def load_pipeline(path: Path, *, release: str | None = None) -> tuple[Pipeline, dict[str, str]]:
    """The pipeline and each stage's effective plan text, all validated; PlanError else.

    Nothing is written: a bad pipeline or a stage plan that would not load is
    refused before any stage runs.
    """
    text = reading.read_text(path)
    pipeline, lines = _validated(text, Pipeline, source=str(path))
    problems = [_locate(str(path), lines, loc, message) for loc, message in pipeline.problems()]
    if problems:
        raise PlanError(problems)
    if release is not None and not re.match(_RELEASE, release):
        raise PlanError([f"--release: {release!r} is not a release name (letters, digits, ._-)"])
    release = release or pipeline.release
    base = path.resolve().parent
    stages = [
        stage.model_copy(
            update={
                "plan": base / stage.plan,
                "home": base / (stage.home or f".rollsafe-{stage.name}"),
            }
        )
        for stage in pipeline.stages
    ]
    pipeline = pipeline.model_copy(update={"stages": stages, "release": release})
    plans: dict[str, str] = {}
    errors: list[str] = []
    for index, stage in enumerate(stages):
        try:
            plans[stage.name] = effective_plan(stage, release)
            load_plan(stage.plan, plans[stage.name])
        except PlanError as error:
            where = _locate(str(path), lines, ("stages", index, "plan"), f"stage {stage.name}")
            errors.extend(f"{where}: {problem}" for problem in error.problems)
        except OSError as error:
            errors.append(_locate(str(path), lines, ("stages", index, "plan"), str(error)))
    if errors:
        raise PlanError(errors)
    return pipeline, plans


def effective_plan(stage: Stage, release: str | None) -> str:
    """The stage plan's text with the overrides merged and the release set."""
    text = reading.read_text(stage.plan)
    if not stage.overrides and release is None:
        return text  # verbatim: errors keep the file's own line numbers
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        return text  # load_plan refuses it with its line
    data = _merged(data, stage.overrides)
    if release is not None:
        for step in data.get("steps") or []:
            for kind in ("deploy", "canary"):
                if isinstance(step, dict) and isinstance(step.get(kind), dict):
                    step[kind]["release"] = release
    return yaml.safe_dump(data, sort_keys=False)


def _merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged
