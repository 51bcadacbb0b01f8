"""A SQLite backup is one file: a forged -wal, -journal or -shm beside it is never applied."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from rollsafe.backup import restore_backup, snapshot_source, verify_backup
from rollsafe.backup.manifests import sha256_file
from rollsafe.config.plan import SqliteBackupSource
from rollsafe.errors import BackupError


def live_database(path: Path) -> Path:
    """A service's database in WAL mode, as the demo shop and most services run it."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    with db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
        db.executemany("INSERT INTO orders (item) VALUES (?)", [("a",), ("b",)])
    db.close()
    return path


def items(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [row[0] for row in db.execute("SELECT item FROM orders ORDER BY id")]
    finally:
        db.close()


def forge_wal(backup: Path, work: Path) -> Path:
    """A valid WAL for ``backup``'s bytes that adds a forged order, planted beside it."""
    forged = work / "forged.db"
    shutil.copyfile(backup, forged)
    db = sqlite3.connect(forged)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    with db:
        db.execute("INSERT INTO orders (item) VALUES ('FORGED')")
    planted = backup.with_name(backup.name + "-wal")
    shutil.copyfile(work / "forged.db-wal", planted)  # while open: not yet checkpointed
    db.close()
    assert items(forged) == ["a", "b", "FORGED"]  # the forgery itself works
    return planted


def snapshot(tmp_path: Path) -> tuple[Path, str]:
    source = SqliteBackupSource(name="orders", path=live_database(tmp_path / "live.db"))
    taken = snapshot_source(source, tmp_path / "backups")
    return taken.path, taken.sha256


def test_a_backup_is_one_checkpointed_file(tmp_path: Path) -> None:
    path, sha256 = snapshot(tmp_path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["orders.db", "orders.db.manifest.json"]
    assert path.read_bytes()[18:20] == b"\x01\x01"  # rollback journal, not WAL mode
    assert verify_backup(path, sha256, "sqlite") == {"sha256": sha256, "tables": {"orders": 2}}
    assert sorted(p.name for p in path.parent.iterdir()) == ["orders.db", "orders.db.manifest.json"]


def test_a_forged_wal_fails_verify_and_is_not_restored(tmp_path: Path) -> None:
    path, sha256 = snapshot(tmp_path)
    forge_wal(path, tmp_path)
    assert sha256_file(path) == sha256  # the checksum alone cannot see it
    with pytest.raises(BackupError, match=r"orders\.db-wal beside backup .*tampered"):
        verify_backup(path, sha256, "sqlite")
    restored = restore_backup(path, "sqlite", sha256, tmp_path / "restored.db")
    assert items(tmp_path / "restored.db") == ["a", "b"]
    assert restored["tables"] == {"orders": 2}
    assert restored["ignored"] == "orders.db-wal"


def test_an_older_backup_in_wal_mode_ignores_a_planted_wal(tmp_path: Path) -> None:
    # Backups taken before backups were checkpointed kept the source's WAL header.
    live = live_database(tmp_path / "live.db")
    path = tmp_path / "backups" / "orders.db"
    path.parent.mkdir()
    shutil.copyfile(live, path)
    assert path.read_bytes()[18:20] == b"\x02\x02"
    forge_wal(path, tmp_path)
    restore_backup(path, "sqlite", sha256_file(path), tmp_path / "restored.db")
    assert items(tmp_path / "restored.db") == ["a", "b"]


def test_a_planted_journal_fails_verify_and_is_not_rolled_back(tmp_path: Path) -> None:
    path, sha256 = snapshot(tmp_path)
    path.with_name(path.name + "-journal").write_bytes(b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7" * 64)
    with pytest.raises(BackupError, match=r"orders\.db-journal beside backup"):
        verify_backup(path, sha256, "sqlite")
    restore_backup(path, "sqlite", sha256, tmp_path / "restored.db")
    assert items(tmp_path / "restored.db") == ["a", "b"]


def test_what_older_backups_left_beside_them_is_no_alarm(tmp_path: Path) -> None:
    # Counting the tables of a WAL-mode backup read-only left an empty -wal and a -shm.
    path, sha256 = snapshot(tmp_path)
    path.with_name(path.name + "-wal").write_bytes(b"")
    path.with_name(path.name + "-shm").write_bytes(b"\0" * 32768)
    assert verify_backup(path, sha256, "sqlite")["tables"] == {"orders": 2}
    restored = restore_backup(path, "sqlite", sha256, tmp_path / "restored.db")
    assert items(tmp_path / "restored.db") == ["a", "b"]
    assert restored["ignored"] == "orders.db-wal, orders.db-shm"
