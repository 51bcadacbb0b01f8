"""A plan's ``slos: {file: ...}``: the SLO file read, validated and merged into the plan.

The file's objectives come first, then the plan's own; a name in both is an
error (which one would a reader believe?). Settings the plan sets (``selector``,
``compress``, ``budget``) override the file's. The file names its service, which
must be the plan's: an SLO file of another service is a mistake, not a share.
A rollout resuming from its stored plan text reads the file again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rollsafe.config import reading
from rollsafe.config.metric_sources import PrometheusMetrics
from rollsafe.config.slo import SloFile, SloSection
from rollsafe.errors import PlanError

if TYPE_CHECKING:
    from rollsafe.config.plan import Plan


def load_slo_file(path: Path) -> SloFile:
    """Read and validate an SLO file; PlanError with ``file:line`` for each problem."""
    from rollsafe.config.loading import parse_document  # loading imports this module

    return parse_document(reading.read_text(path), SloFile, source=str(path))


def with_slo_file(plan: Plan, base: Path) -> Plan:
    """``plan`` with the objectives of its ``slos.file`` (relative to ``base``) merged in."""
    section = plan.slos
    if section is None or section.file is None:
        return plan
    path = base / section.file
    loaded = load_slo_file(path)
    if loaded.service != plan.service:
        raise PlanError(
            [f"{path}:1: service: is {loaded.service!r}, the plan's service is {plan.service!r}"]
        )
    names = {objective.name for objective in loaded.objectives}
    twice = [o.name for o in section.objectives if o.name in names]
    if twice:
        raise PlanError(
            [f"{path}:1: objectives: {', '.join(twice)} also defined in the plan's slos"]
        )
    own = {name: getattr(section, name) for name in section.model_fields_set - {"objectives"}}
    merged = SloSection.model_validate(
        {
            **loaded.model_dump(exclude={"version", "service", "objectives"}),
            **own,
            "objectives": [*loaded.objectives, *section.objectives],
            "file": path,
        }
    )
    return plan.model_copy(update={"slos": merged})


def problems(plan: Plan) -> list[tuple[tuple[str | int, ...], str]]:
    """What the ``slos`` section needs from the rest of the plan, where it is missing."""
    slos = plan.slos
    if slos is None or slos.budget.floor <= 0 or slos.budget.prometheus:
        return []
    if isinstance(plan.metrics, PrometheusMetrics):
        return []
    return [
        (
            ("slos", "budget", "floor"),
            "an error-budget floor needs the SLI's history: set slos.budget.prometheus "
            "(or use metrics: {provider: prometheus})",
        )
    ]
