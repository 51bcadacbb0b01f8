"""The plan's ``risk:`` section: how to score the change a rollout ships, and how much
more careful each risk level makes the rollout.

```yaml
risk:
  repo: .                      # the git repository, relative to the plan's folder
  range: v1.1.0..HEAD          # or rollsafe rollout start --risk-range
  critical_paths: [src/payments/, "*.sql"]
  coverage: coverage.xml       # Cobertura, optional
  caution:
    medium: {analysis_factor: 1.5}
    high: {max_increment: 10, analysis_factor: 2, approval: true}
    critical: {max_increment: 5, analysis_factor: 3, approval: true}
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from rollsafe.config.types import StrictModel

RiskLevel = Literal["low", "medium", "high", "critical"]
RISK_FACTORS = (
    "churn",
    "critical_paths",
    "uncovered_lines",
    "dependencies",
    "migrations",
    "rollback_history",
)


class Caution(StrictModel):
    """What a risk level changes in the plan's steps when the rollout is created."""

    max_increment: Annotated[int, Field(ge=1, le=100)] | None = None
    """Largest rise of a flag's rollout or a canary's weight from one step to the next;
    bigger rises are split, each new step followed by a copy of the analysis after it."""
    analysis_factor: Annotated[float, Field(ge=1, le=100)] = 1.0
    """Analysis steps (and timed pauses) last this many times longer."""
    approval: bool = False
    """Insert a ``pause:`` (wait for ``rollsafe rollout resume``) before the first step
    that changes what users get (deploy, canary or flag)."""


class RiskConfig(StrictModel):
    repo: Path = Path(".")
    range: str | None = None
    """``BASE..HEAD``; the ``--risk-range`` of ``rollout start`` wins over it."""
    critical_paths: list[str] = Field(default_factory=list)
    """fnmatch patterns (``*`` crosses ``/``; a trailing ``/`` means everything under it)."""
    coverage: Path | None = None
    weights: dict[str, Annotated[float, Field(ge=0)]] | None = None
    """Override the calibrated weights (docs/risk.md); scaled to sum to 100."""
    caution: dict[RiskLevel, Caution] = Field(default_factory=dict)

    @field_validator("weights")
    @classmethod
    def _known_factors(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is None:
            return None
        unknown = sorted(set(value) - set(RISK_FACTORS))
        if unknown:
            raise ValueError(f"unknown factors {unknown}; known: {', '.join(RISK_FACTORS)}")
        if sum(value.values()) <= 0:
            raise ValueError("weights must have a positive sum")
        return value
