"""Rollout, flag and backup state behind one ``Store`` protocol; every change journaled."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from rollsafe.store.postgres import PostgresStore

__all__ = [
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
    "open_store",
    "open_store_url",
]


def __getattr__(name: str) -> Any:
    # psycopg loads only when PostgreSQL is used: services importing the SQLite store start fast.
    if name == "PostgresStore":
        from rollsafe.store.postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(home: Path) -> Store:
    """The state store of a rollsafe home (``<home>/rollsafe.db``)."""
    return SqliteStore(home / "rollsafe.db")


def open_store_url(url_or_path: str) -> Store:
    """A store from ``--store`` / ``ROLLSAFE_STORE``: a ``postgresql://`` URL or a SQLite path.

    A path naming an existing directory means the ``rollsafe.db`` inside it.
    """
    if url_or_path.startswith(("postgresql://", "postgres://")):
        from rollsafe.store.postgres import PostgresStore

        return PostgresStore(url_or_path)
    path = Path(url_or_path).expanduser()
    return SqliteStore(path / "rollsafe.db" if path.is_dir() else path)
