"""Backups: consistent SQLite copies under concurrent writes, checksums, refusing a bad restore."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from rollsafe.backup import restore_backup, snapshot_source, sqlite_table_counts, verify_backup
from rollsafe.config.plan import FilesBackupSource, SqliteBackupSource
from rollsafe.errors import BackupError


def make_orders(path: Path, rows: int) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT, qty INTEGER)")
    with db:
        db.executemany(
            "INSERT INTO orders (item, qty) VALUES (?, ?)", [(f"i{n}", n) for n in range(rows)]
        )
    db.close()


def rows(path: Path) -> list[tuple[int, str, int]]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT id, item, qty FROM orders ORDER BY id").fetchall()
    finally:
        db.close()


def test_sqlite_backup_is_consistent_while_the_service_writes(tmp_path: Path) -> None:
    live = tmp_path / "shop.db"
    make_orders(live, 1000)
    stop = threading.Event()

    def writer() -> None:
        db = sqlite3.connect(live, timeout=10)
        n = 0
        while not stop.is_set():
            with db:  # each order and its quantity land in one transaction
                db.execute("INSERT INTO orders (item, qty) VALUES (?, ?)", (f"w{n}", -1))
                db.execute("UPDATE orders SET qty = ? WHERE item = ?", (n, f"w{n}"))
            n += 1
        db.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        snapshot = snapshot_source(SqliteBackupSource(name="orders", path=live), tmp_path / "b")
    finally:
        stop.set()
        thread.join()
    copied = rows(snapshot.path)
    assert len(copied) >= 1000
    assert all(qty >= 0 for _, _, qty in copied)  # no half-written transaction in the copy
    assert snapshot.manifest["tables"] == {"orders": len(copied)}
    assert (tmp_path / "b" / "orders.db.manifest.json").exists()
    verify_backup(snapshot.path, snapshot.sha256)


def test_restore_brings_back_every_row_byte_equal(tmp_path: Path) -> None:
    live = tmp_path / "shop.db"
    make_orders(live, 50)
    before = rows(live)
    snapshot = snapshot_source(SqliteBackupSource(name="orders", path=live), tmp_path / "b")
    db = sqlite3.connect(live)
    with db:
        db.execute("UPDATE orders SET item = 'corrupted'")
        db.execute("DELETE FROM orders WHERE id > 10")
    db.close()
    result = restore_backup(snapshot.path, "sqlite", snapshot.sha256, live)
    assert rows(live) == before
    assert result["tables"] == {"orders": 50} == sqlite_table_counts(live)


def test_a_tampered_backup_is_refused_and_the_target_left_alone(tmp_path: Path) -> None:
    live = tmp_path / "shop.db"
    make_orders(live, 5)
    snapshot = snapshot_source(SqliteBackupSource(name="orders", path=live), tmp_path / "b")
    with snapshot.path.open("r+b") as stream:
        stream.seek(200)
        stream.write(b"\xff")
    make_orders(tmp_path / "other.db", 1)
    with pytest.raises(BackupError, match="does not match its checksum"):
        restore_backup(snapshot.path, "sqlite", snapshot.sha256, tmp_path / "other.db")
    assert len(rows(tmp_path / "other.db")) == 1


def test_directory_backup_round_trip(tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    (uploads / "a").mkdir(parents=True)
    (uploads / "a" / "x.txt").write_text("hello")
    (uploads / "y.bin").write_bytes(bytes(range(256)))
    snapshot = snapshot_source(FilesBackupSource(name="uploads", path=uploads), tmp_path / "b")
    (uploads / "a" / "x.txt").write_text("changed")
    (uploads / "new.txt").write_text("should disappear")
    restore_backup(snapshot.path, "files", snapshot.sha256, uploads)
    assert (uploads / "a" / "x.txt").read_text() == "hello"
    assert (uploads / "y.bin").read_bytes() == bytes(range(256))
    assert not (uploads / "new.txt").exists()


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="does not exist"):
        snapshot_source(SqliteBackupSource(name="orders", path=tmp_path / "nope.db"), tmp_path)
