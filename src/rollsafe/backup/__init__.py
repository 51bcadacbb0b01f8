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
from rollsafe.backup.postgres import redacted_url

__all__ = [
    "Snapshot",
    "manifest_path",
    "redacted_url",
    "restore_backup",
    "sha256_file",
    "snapshot_source",
    "sqlite_table_counts",
    "take_backup",
    "verify_backup",
]
