"""The rollback ladder's entries that readers depend on, and typed ways to read them.

The incident report and the demo's summary read the rollback ladder back from
the journal by key; a key renamed in `rollsafe.controller.rollback` would
otherwise surface only as a KeyError in a report. These TypedDicts name the
keys once and mypy checks the readers against them. They describe, they do not
validate: ``tests/controller/test_journal_payloads.py`` runs the real ladder and
checks its entries have exactly these keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypedDict, cast

from rollsafe.journal.chain import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads.reading import data_of


class RollbackStarted(TypedDict):
    """A ``rollback.started`` entry: why, and the levels the ladder will try."""

    reason: str
    levels: list[str]
    """The names of the plan's levels to run, in order (``flags``, ``release``, ``restore``)."""
    undo: bool
    """True for an abort: everything the rollout changed is reverted, not just what recovers."""


class LevelEnded(TypedDict):
    """A ``rollback.level_ended`` entry: one level of the ladder and its outcome."""

    level: int
    name: str
    """``flags``, ``release`` or ``restore``."""
    applied: bool
    """False when the level's action raised (its ``result`` holds the error)."""
    changed: bool
    """Whether the action changed anything (or may have, before a crash)."""
    recovered: bool
    """Whether the verification after the action found the service healthy."""
    started: float
    ended: float
    """Wall-clock times (epoch seconds) of the level's start and end."""
    action_seconds: float
    seconds: float
    """How long the action took, and the whole level with its verification."""
    result: dict[str, Any]
    verification: dict[str, Any]


class LevelSkipped(TypedDict):
    """A ``rollback.level_skipped`` entry: a level with nothing to undo."""

    level: int
    name: str
    skipped: bool
    reason: str


class RollbackFinished(TypedDict):
    """A ``rollback.finished`` entry: what ``roll_back`` returned."""

    ok: bool
    """Whether some level recovered the service."""
    levels: list[LevelEnded]
    final_level: int | None
    recovered_by: str | None
    """The action that recovered the service, as a person should read it."""


def rollback_started(entries: Iterable[JournalEntry]) -> RollbackStarted | None:
    """The first ``rollback.started`` entry's data (a copy); None if no rollback started."""
    found = next((e for e in entries if e.kind == Kind.ROLLBACK_STARTED), None)
    return cast(RollbackStarted, data_of(found, Kind.ROLLBACK_STARTED)) if found else None


def level_ended(entry: JournalEntry) -> LevelEnded:
    """A ``rollback.level_ended`` entry's data (a copy)."""
    return cast(LevelEnded, data_of(entry, Kind.ROLLBACK_LEVEL_ENDED))


def levels_ended(entries: Iterable[JournalEntry]) -> list[LevelEnded]:
    """Each ``rollback.level_ended`` entry's data (a copy), in journal order."""
    return [cast(LevelEnded, dict(e.data)) for e in entries if e.kind == Kind.ROLLBACK_LEVEL_ENDED]


def levels_skipped(entries: Iterable[JournalEntry]) -> list[LevelSkipped]:
    """Each ``rollback.level_skipped`` entry's data (a copy), in journal order."""
    return [
        cast(LevelSkipped, dict(e.data)) for e in entries if e.kind == Kind.ROLLBACK_LEVEL_SKIPPED
    ]


def rollback_finished(entries: Iterable[JournalEntry]) -> RollbackFinished | None:
    """The last ``rollback.finished`` entry's data (a copy); None if the rollback never ended."""
    finished = [e for e in entries if e.kind == Kind.ROLLBACK_FINISHED]
    return cast(RollbackFinished, dict(finished[-1].data)) if finished else None
