"""Backups taken before a rollout, checksummed so a restore can trust them."""

from rollsafe.backup.archive import (
    Snapshot,
    restore_backup,
    sha256_file,
    snapshot_source,
    sqlite_table_counts,
    verify_backup,
)

__all__ = [
    "Snapshot",
    "restore_backup",
    "sha256_file",
    "snapshot_source",
    "sqlite_table_counts",
    "verify_backup",
]
