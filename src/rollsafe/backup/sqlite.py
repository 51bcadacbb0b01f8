"""SQLite backups: one checkpointed file, read back only through a private copy.

SQLite reads more than the file it opens: beside ``orders.db`` it applies
``orders.db-wal`` (in WAL mode) or rolls back a hot ``orders.db-journal``. A
backup's checksum covers only ``orders.db``, so a forged ``-wal`` planted
beside it would pass the checksum and be applied by a restore. Therefore a
backup is written as a single file in rollback-journal mode with no side
files, and verify and restore read a private copy (in a fresh 0700
directory, where nothing else lies) opened ``immutable``: exactly the bytes
the checksum covered, nothing else.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rollsafe.backup.manifests import verify_checksum
from rollsafe.errors import BackupError
from rollsafe.support.private import create_private_file

SIDE_SUFFIXES = ("-wal", "-shm", "-journal")
"""Files SQLite reads or writes beside a database file."""


def side_files(path: Path) -> list[Path]:
    """The SQLite side files that exist beside ``path``."""
    return [
        side for suffix in SIDE_SUFFIXES if (side := path.with_name(path.name + suffix)).exists()
    ]


def snapshot_database(source: Path, destination: Path) -> dict[str, int]:
    """Copy a live database to ``destination`` as one self-contained file; its table counts.

    The online backup API gives a consistent copy while the service writes; the
    copy is then switched to rollback-journal mode (checkpointing any WAL into
    the file), and is renamed into place only once nothing lies beside it.
    """
    partial = destination.with_name(destination.name + ".partial")
    try:
        create_private_file(partial)
        _online_copy(f"file:{source}?mode=ro", partial)
        connection = sqlite3.connect(partial)
        try:
            connection.execute("PRAGMA journal_mode=DELETE")
        finally:
            connection.close()
        if leftovers := side_files(partial):
            raise BackupError(f"the copy still has side files: {_names(leftovers)}")
        counts = table_counts(partial, immutable=True)
    except (sqlite3.Error, BackupError) as error:
        _remove(partial)
        raise BackupError(f"cannot back up SQLite database {source}: {error}") from error
    for stale in side_files(destination):
        stale.unlink()
    partial.replace(destination)
    return counts


def verify_database(backup: Path, sha256: str) -> dict[str, object]:
    """Refuse a backup with a side file that holds data, or whose bytes or pages are not
    intact.

    An empty ``-wal`` and a ``-shm`` (an index SQLite rebuilds) hold nothing to apply:
    backups taken before they were checkpointed left them when their tables were
    counted, so they are no sign of tampering.
    """
    if planted := [side for side in side_files(backup) if _holds_data(side)]:
        raise BackupError(
            f"{_names(planted)} beside backup {backup}: not part of the backup and not written"
            " by rollsafe (someone may have tampered with it); a restore ignores it"
        )
    with private_copy(backup, sha256) as copy:
        connection = _open_immutable(copy)
        try:
            result = connection.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.Error as error:
            raise BackupError(
                f"backup {backup} is not a readable SQLite database: {error}"
            ) from error
        finally:
            connection.close()
        if result != "ok":
            raise BackupError(f"backup {backup} fails SQLite's integrity check: {result}")
        return {"sha256": sha256, "tables": table_counts(copy, immutable=True)}


def restore_database(backup: Path, sha256: str, destination: Path) -> dict[str, object]:
    """Put the checksummed bytes of ``backup`` back at ``destination`` (the service stopped).

    Side files beside the backup are never read; the result names any it ignored.
    """
    ignored = side_files(backup)
    destination.parent.mkdir(parents=True, exist_ok=True)
    # The copy sits beside the destination: that filesystem must hold the data anyway.
    with private_copy(backup, sha256, beside=destination) as copy:
        try:
            _online_copy(f"file:{copy}?mode=ro&immutable=1", destination)
        except sqlite3.Error as error:
            raise BackupError(f"cannot restore {backup} into {destination}: {error}") from error
    result: dict[str, object] = {"restored": str(destination), "tables": table_counts(destination)}
    if ignored:
        result["ignored"] = _names(ignored)
    return result


@contextmanager
def private_copy(backup: Path, sha256: str, *, beside: Path | None = None) -> Iterator[Path]:
    """A copy of ``backup`` alone in a new private directory, checked against ``sha256``.

    The directory is made in ``beside``'s folder when given (else the system's
    temporary folder); only this process's user can add files to it. The
    checksum is checked on the copy, so what is read next is what was checked.
    """
    folder = None if beside is None else beside.parent
    with tempfile.TemporaryDirectory(prefix=".rollsafe-restore-", dir=folder) as directory:
        copy = Path(directory) / "backup.db"
        if not backup.is_file():
            raise BackupError(f"backup file {backup} is missing")
        try:
            shutil.copyfile(backup, copy)
        except OSError as error:
            raise BackupError(f"cannot read backup {backup}: {error}") from error
        try:
            verify_checksum(copy, sha256)
        except BackupError:
            raise BackupError(
                f"backup {backup} does not match its checksum; refusing to use it"
            ) from None
        yield copy


def table_counts(path: Path, *, immutable: bool = False) -> dict[str, int]:
    """Rows per table. ``immutable`` for a private copy: nothing beside it is looked for."""
    connection = (
        _open_immutable(path) if immutable else sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    )
    try:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            table: connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # noqa: S608 - names come from sqlite_master
            for table in sorted(tables)
        }
    except sqlite3.Error as error:
        raise BackupError(f"cannot read SQLite database {path}: {error}") from error
    finally:
        connection.close()


def _open_immutable(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)


def _online_copy(source_uri: str, destination: Path) -> None:
    """SQLite's online backup: a consistent copy while writers go on.

    Written through the destination's own journal, so a restore is atomic for
    any reader of the live database and leaves no stale WAL frames behind.
    """
    src = sqlite3.connect(source_uri, uri=True, timeout=10)
    try:
        dst = sqlite3.connect(destination, timeout=10)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _holds_data(side: Path) -> bool:
    return not side.name.endswith("-shm") and side.stat().st_size > 0


def _remove(path: Path) -> None:
    for leftover in [path, *side_files(path)]:
        leftover.unlink(missing_ok=True)


def _names(paths: list[Path]) -> str:
    return ", ".join(path.name for path in paths)
