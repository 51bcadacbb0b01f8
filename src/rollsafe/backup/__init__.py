"""Backups taken before a rollout, checksummed so a restore can trust them."""

from rollsafe.backup.archive import (
    Snapshot,
    manifest_path,
    restore_backup,
    sha256_file,
    snapshot_source,
    sqlite_table_counts,
    take_backup,
    verify_backup,
)

__all__ = [
    "Snapshot",
    "manifest_path",
    "restore_backup",
    "sha256_file",
    "snapshot_source",
    "sqlite_table_counts",
    "take_backup",
    "verify_backup",
]
