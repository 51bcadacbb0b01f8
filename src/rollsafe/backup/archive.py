"""Copy a backup source into the home's ``backups/`` with a SHA-256 manifest, and restore it.

SQLite sources go through the online backup API, so the copy is consistent
while the service keeps writing, into one file read back only through a
private copy (``backup.sqlite``); file and directory sources become tar.gz
archives; PostgreSQL databases become ``pg_dump`` archives (``backup.postgres``).
A restore checks the checksum first and refuses a mismatch. Each function here
serves every kind, choosing by the source's type or the record's ``kind``.
"""

from __future__ import annotations

import shutil
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rollsafe.backup.manifests import (
    Snapshot,
    manifest_path,
    record_snapshot,
    sha256_file,
    stored_path,
    verify_checksum,
)
from rollsafe.backup.postgres import check_dump, restore_postgres, snapshot_postgres
from rollsafe.backup.sqlite import (
    restore_database,
    snapshot_database,
    table_counts,
    verify_database,
)
from rollsafe.config.backup_sources import PostgresBackupSource
from rollsafe.config.plan import BackupSource, SqliteBackupSource
from rollsafe.errors import BackupError
from rollsafe.store import BackupRecord, Store
from rollsafe.support.private import create_private_file, private_directory

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


def snapshot_source(source: BackupSource, directory: Path) -> Snapshot:
    """Take one consistent copy of ``source`` into ``directory``; write its manifest beside it."""
    if isinstance(source, PostgresBackupSource):
        return snapshot_postgres(source, directory)
    private_directory(directory)
    if not source.path.exists():
        raise BackupError(f"backup source {source.name!r}: {source.path} does not exist")
    details: dict[str, Any]
    if isinstance(source, SqliteBackupSource):
        destination = directory / f"{source.name}.db"
        details = {"tables": snapshot_database(source.path, destination)}
    else:
        destination = directory / f"{source.name}.tar.gz"
        _tar_copy(source.path, destination)
        details = {}
    return record_snapshot(source.name, source.type, str(source.path), destination, details)


def take_backup(
    source: BackupSource,
    directory: Path,
    store: Store,
    *,
    backup_id: str,
    rollout_id: str | None,
    actor: str,
    home: Path | None = None,
) -> BackupRecord:
    """Snapshot ``source`` and add it to the store's backup index (journaled there), its
    path relative to ``home`` when given (see ``manifests.stored_path``)."""
    snapshot = snapshot_source(source, directory)
    record = BackupRecord(
        id=backup_id,
        source=source.name,
        kind=snapshot.kind,
        path=stored_path(snapshot.path, home) if home else str(snapshot.path),
        sha256=snapshot.sha256,
        size=snapshot.size,
        created_at=snapshot.created_at,
        rollout_id=rollout_id,
        manifest=snapshot.manifest,
    )
    store.add_backup(record, actor=actor)
    return record


def verify_backup(path: Path, sha256: str, kind: str | None = None) -> dict[str, Any]:
    """Raise BackupError unless the file exists and matches its recorded checksum.

    A ``postgres`` dump must also be readable by the installed ``pg_restore``.
    Returns what was checked.
    """
    if kind == "sqlite":
        return verify_database(path, sha256)
    verify_checksum(path, sha256)
    if kind == "postgres":
        return {"sha256": sha256, **check_dump(path)}
    return {"sha256": sha256}


def restore_backup(
    path: Path,
    kind: str,
    sha256: str,
    destination: Path | str,
    *,
    manifest: Mapping[str, Any] | None = None,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Put a verified backup back at ``destination``; the service must not be writing to it.

    ``destination`` is a path, or for a ``postgres`` backup the database's URL; that
    restore also checks every table's row count and checksum against ``manifest``
    (the file beside the dump when None) and bounds ``pg_restore`` by ``timeout``.
    """
    if kind == "postgres":
        if not isinstance(destination, str):
            raise BackupError(
                f"a postgres backup restores into a database: {destination} is not a URL"
            )
        return restore_postgres(path, sha256, destination, manifest=manifest, timeout=timeout)
    target = Path(destination)
    if kind == "sqlite":
        return restore_database(path, sha256, target)
    verify_checksum(path, sha256)
    _untar(path, target)
    return {"restored": str(target)}


def sqlite_table_counts(path: Path) -> dict[str, int]:
    """Rows per table of a SQLite database (read-only)."""
    return table_counts(path)


def _tar_copy(source: Path, destination: Path) -> None:
    partial = destination.with_name(destination.name + ".partial")
    try:
        create_private_file(partial)
        with tarfile.open(partial, "w:gz") as archive:
            archive.add(source, arcname=source.name)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise BackupError(f"cannot archive {source}: {error}") from error
    partial.replace(destination)


def _untar(archive_path: Path, destination: Path) -> None:
    staging = destination.with_name(destination.name + ".restoring")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            archive.extractall(staging, filter="data")
        (restored,) = list(staging.iterdir())
        if destination.is_dir():
            shutil.rmtree(destination)
        elif destination.exists():
            destination.unlink()
        restored.replace(destination)
    except (OSError, tarfile.TarError, ValueError) as error:
        raise BackupError(f"cannot restore {archive_path} into {destination}: {error}") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
