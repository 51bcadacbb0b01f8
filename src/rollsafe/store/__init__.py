"""Rollout, flag and backup state behind one ``Store`` protocol; every change journaled."""

from __future__ import annotations

from pathlib import Path

from rollsafe.store.follow import JournalFollower
from rollsafe.store.protocol import Store
from rollsafe.store.records import (
    BackupRecord,
    FlagRecord,
    Rollout,
    RolloutState,
    StepRecord,
    StepState,
)
from rollsafe.store.sqlite import SqliteStore

__all__ = [
    "BackupRecord",
    "FlagRecord",
    "JournalFollower",
    "Rollout",
    "RolloutState",
    "SqliteStore",
    "StepRecord",
    "StepState",
    "Store",
    "open_store",
]


def open_store(home: Path) -> Store:
    """The state store of a rollsafe home (``<home>/rollsafe.db``)."""
    return SqliteStore(home / "rollsafe.db")
