"""A plan's ``drill:`` section: which rollback levels a drill exercises, how fast each must
recover, and how recent a successful drill a rollout of the plan needs.

The runbooks' targets are the defaults: flags off within 2 minutes, the previous
release within 15, a full data restore within 45. A level's time is from its
action to the end of its verification: what users wait through.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, field_validator

from rollsafe.config.guards import RollbackLevel
from rollsafe.config.types import Duration, StrictModel, parse_duration

_DAYS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*d\s*$")


def parse_age(value: Any) -> float:
    """Seconds from ``7d``, or any duration (``12h``, ``30m``)."""
    if isinstance(value, str) and (match := _DAYS.match(value)):
        return float(match.group(1)) * 86400.0
    try:
        return parse_duration(value)
    except ValueError:
        raise ValueError(f"must be an age like 7d, 12h or 30m, got {value!r}") from None


Age = Annotated[float, BeforeValidator(parse_age)]
"""Seconds; written ``7d``, ``12h``, ``30m``."""


class DrillTargets(StrictModel):
    """How long each level may take, its action and verification together."""

    flags: Duration = 120.0
    release: Duration = 900.0
    restore: Duration = 2700.0

    def of(self, level: RollbackLevel) -> float:
        seconds: float = getattr(self, level)
        return seconds


class DrillPolicy(StrictModel):
    levels: list[RollbackLevel] | None = None
    """Levels ``rollsafe drill`` exercises without ``--levels``; unset: the plan's
    ``rollback.levels``."""
    targets: DrillTargets = DrillTargets()
    require_within: Annotated[Age | None, Field(gt=0)] = None
    """A rollout of this plan starts only after a successful drill of its service no
    older than this (refused otherwise, changing nothing)."""

    @field_validator("levels")
    @classmethod
    def _distinct_levels(cls, levels: list[RollbackLevel] | None) -> list[RollbackLevel] | None:
        if levels is not None and (not levels or len(set(levels)) != len(levels)):
            raise ValueError("must name each of flags, release, restore at most once")
        return levels
