"""The ``backup.created`` and ``backup.deleted`` entries, and their reader.

Written by the store when a backup is recorded or deleted
(`rollsafe.store.rules.backups`); the incident report lists the backups a
rollout took, with their checksums. The restore entries (``backup.restored``,
``backup.forensic_copy``, ``backup.lost_rows``) stay untyped: they carry what
each kind of backup source reports, whose keys differ by source.
"""

from __future__ import annotations

from typing import TypedDict, cast

from rollsafe.journal.chain import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads.reading import data_of


class BackupCreated(TypedDict):
    """A ``backup.created`` entry (the dump's path and manifest stay in the store's row)."""

    id: str
    source: str
    """The plan's name for what was backed up."""
    sha256: str
    """The dump's checksum, verified again before a restore."""


class BackupDeleted(TypedDict):
    """A ``backup.deleted`` entry."""

    id: str
    source: str
    reason: str


def backup_created(entry: JournalEntry) -> BackupCreated:
    """A ``backup.created`` entry's data (a copy)."""
    return cast(BackupCreated, data_of(entry, Kind.BACKUP_CREATED))


def backup_deleted(entry: JournalEntry) -> BackupDeleted:
    """A ``backup.deleted`` entry's data (a copy)."""
    return cast(BackupDeleted, data_of(entry, Kind.BACKUP_DELETED))
