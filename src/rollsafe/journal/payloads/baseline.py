"""The ``rollout.baseline`` entry: what a rollout returns to, and its readers.

Journaled once, when a rollout first starts (`rollsafe.controller.runner`):
level 2 of the rollback ladder redeploys its release, the incident report
starts its list of releases from it, and the risk score's history compares
the rollout's releases with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict, cast

from rollsafe.journal.chain import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads.reading import data_of


class Baseline(TypedDict):
    """A ``rollout.baseline`` entry."""

    release: str | None
    """The release live before the first step (None when the target runs none)."""
    flags: dict[str, int]
    """Each flag the plan declares, by name: its version before the first step."""


def baseline_of(entry: JournalEntry) -> Baseline:
    """A ``rollout.baseline`` entry's data (a copy)."""
    return cast(Baseline, data_of(entry, Kind.ROLLOUT_BASELINE))


def baseline(entries: Iterable[JournalEntry]) -> Baseline | None:
    """The rollout's baseline (its first such entry); None if it never started."""
    found = next((e for e in entries if e.kind == Kind.ROLLOUT_BASELINE), None)
    return baseline_of(found) if found is not None else None


def baseline_release(entries: Iterable[JournalEntry]) -> str | None:
    """The release live before the rollout's first step, if the journal names one."""
    found = baseline(entries)
    release = found.get("release") if found is not None else None
    return str(release) if release is not None else None
