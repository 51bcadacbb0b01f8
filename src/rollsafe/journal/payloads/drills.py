"""The ``drill.started`` and ``drill.finished`` entries: a rollback drill, and its readers.

Written by `rollsafe.controller.drills` on the drill's own rollout. The drill
report, the dashboard's "last rollback drill" section, ``rollsafe rollout
status`` and the plan's ``drill.require_within`` read ``drill.finished`` back:
whether rollback of the service is proven, and each level's time against its
target.
"""

# No `from __future__ import annotations`: the runtime keeps NotRequired only when the
# annotations are evaluated (the tests read __required_keys__ and __optional_keys__).
from typing import Any, NotRequired, TypedDict, cast

from rollsafe.journal.chain import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads.reading import data_of


class DrillStarted(TypedDict):
    """A ``drill.started`` entry."""

    service: str
    plan: str
    """The plan's path as given to ``rollsafe drill``."""
    levels: list[str]
    """The level names drilled, in escalation order."""
    targets: dict[str, float]
    """Each drilled level's target, in seconds, by name (the plan's ``drill.targets``)."""


class DrilledRestore(TypedDict):
    """One backup level 3 restored during a drill."""

    backup: str
    kind: str
    tables: dict[str, int]
    """Rows in each restored table (empty for a files backup)."""
    rows: int
    row_counts: Any
    """The restore's verification of the row counts against the backup's."""


class DrilledLevel(TypedDict):
    """One drilled level in a ``drill.finished`` entry."""

    level: int
    name: str
    target_seconds: float
    ran: bool
    problem: NotRequired[str]
    """Only when the level did not pass: why, as a person should read it."""
    # The rest only for a level that ran.
    applied: NotRequired[bool]
    recovered: NotRequired[bool]
    changed: NotRequired[bool]
    action_seconds: NotRequired[float]
    verification_seconds: NotRequired[float]
    seconds: NotRequired[float]
    within_target: NotRequired[bool]
    # Level 3 (restore) only: how long the data restore took (None if it was not seen), and
    # what it restored.
    restore_seconds: NotRequired[float | None]
    restored: NotRequired[list[DrilledRestore]]


class DrillFinished(TypedDict):
    """A ``drill.finished`` entry: the drill's result."""

    service: str
    plan: str
    rollout: str
    """The drill's rollout id."""
    ok: bool
    """Whether every level ran, recovered the service and stayed within its target."""
    problems: list[str]
    state: str
    """The drill rollout's final state."""
    started: float
    ended: float
    levels: list[DrilledLevel]


def drill_started(entry: JournalEntry) -> DrillStarted:
    """A ``drill.started`` entry's data (a copy)."""
    return cast(DrillStarted, data_of(entry, Kind.DRILL_STARTED))


def drill_finished(entry: JournalEntry) -> DrillFinished:
    """A ``drill.finished`` entry's data (a copy)."""
    return cast(DrillFinished, data_of(entry, Kind.DRILL_FINISHED))
