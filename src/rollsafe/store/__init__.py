"""Rollout, flag and backup state behind one ``Store`` protocol; every change journaled."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rollsafe.store.follow import JournalFollower
from rollsafe.store.opening import DATABASE_FILE, is_postgres_url, open_store_url
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

if TYPE_CHECKING:
    from rollsafe.store.postgres import PostgresStore

__all__ = [
    "DATABASE_FILE",
    "BackupRecord",
    "FlagRecord",
    "JournalFollower",
    "PostgresStore",
    "Rollout",
    "RolloutState",
    "SqliteStore",
    "StepRecord",
    "StepState",
    "Store",
    "is_postgres_url",
    "open_store_url",
]


def __getattr__(name: str) -> Any:
    # psycopg loads only when PostgreSQL is used: services importing the SQLite store start fast.
    if name == "PostgresStore":
        from rollsafe.store.postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
