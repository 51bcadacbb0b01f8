"""What a restore takes away, from two real SQLite files: the pre-restore copy, the backup."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from rollsafe.backup.forensics import lost_rows, raw_copy


def database(path: Path, *statements: str) -> Path:
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)
    return path


def compare(tmp_path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    out = tmp_path / "lost.jsonl"
    changes = lost_rows(tmp_path / "pre.db", tmp_path / "backup.db", out)
    return changes, [json.loads(line) for line in out.read_text().splitlines()]


def test_rows_are_matched_by_key_whatever_the_table_shape(tmp_path: Path) -> None:
    common = (
        "CREATE TABLE plain (item TEXT)",  # no primary key: matched by rowid
        "INSERT INTO plain VALUES ('a'), ('b')",
        "CREATE TABLE pairs (a INTEGER, b TEXT, v BLOB, PRIMARY KEY (b, a)) WITHOUT ROWID",
        "INSERT INTO pairs VALUES (1, 'x', x'00ff'), (2, 'y', x'01')",
    )
    database(tmp_path / "backup.db", *common, "CREATE TABLE gone (id INTEGER PRIMARY KEY)",
             "INSERT INTO gone VALUES (1)")  # fmt: skip
    database(
        tmp_path / "pre.db",
        *common,
        "INSERT INTO plain VALUES ('c')",
        "UPDATE pairs SET v = x'02' WHERE a = 2",
        "DELETE FROM pairs WHERE a = 1",
        "CREATE TABLE fresh (id INTEGER PRIMARY KEY, note TEXT)",
        "INSERT INTO fresh VALUES (1, 'made after the backup')",
    )
    changes, lines = compare(tmp_path)
    assert changes == {
        "fresh": {"added": 1, "changed": 0, "removed": 0},
        "gone": {"added": 0, "changed": 0, "removed": 1},
        "pairs": {"added": 0, "changed": 1, "removed": 1},
        "plain": {"added": 1, "changed": 0, "removed": 0},
    }
    by_change = {(line["table"], line["change"]): line for line in lines}
    assert by_change["plain", "added"]["key"] == {"rowid": 3}
    assert by_change["plain", "added"]["row"] == {"item": "c"}
    assert by_change["pairs", "changed"]["key"] == {"b": "y", "a": 2}
    assert by_change["pairs", "changed"]["row"]["v"] == {"hex": "02"}
    assert by_change["pairs", "removed"]["row"]["v"] == {"hex": "00ff"}
    assert (tmp_path / "lost.jsonl").stat().st_mode & 0o777 == 0o600


def test_a_changed_schema_marks_every_shared_row_changed(tmp_path: Path) -> None:
    database(tmp_path / "backup.db", "CREATE TABLE t (id INTEGER PRIMARY KEY, cents INTEGER)",
             "INSERT INTO t VALUES (1, 100), (2, 250)")  # fmt: skip
    database(tmp_path / "pre.db", "CREATE TABLE t (id INTEGER PRIMARY KEY, total TEXT)",
             "INSERT INTO t VALUES (1, '1.00'), (2, '2.50'), (3, '9.99')")  # fmt: skip
    changes, lines = compare(tmp_path)
    assert changes == {"t": {"added": 1, "changed": 2, "removed": 0}}
    assert [line["row"] for line in lines if line["change"] == "added"] == [
        {"id": 3, "total": "9.99"}
    ]


def test_identical_files_lose_nothing(tmp_path: Path) -> None:
    for name in ("backup.db", "pre.db"):
        database(
            tmp_path / name, "CREATE TABLE t (id INTEGER PRIMARY KEY)", "INSERT INTO t VALUES (1)"
        )
    changes, lines = compare(tmp_path)
    assert (changes, lines) == ({}, [])


def test_a_database_sqlite_cannot_read_is_kept_byte_for_byte(tmp_path: Path) -> None:
    broken = tmp_path / "shop.db"
    broken.write_bytes(b"not a database at all" * 100)
    broken.with_name("shop.db-wal").write_bytes(b"frames")
    keep = tmp_path / "forensics"
    keep.mkdir()
    copies = raw_copy(broken, keep)
    assert [copy.name for copy in copies] == ["shop.db.raw", "shop.db-wal.raw"]
    assert copies[0].read_bytes() == broken.read_bytes()
    assert all(copy.stat().st_mode & 0o777 == 0o600 for copy in copies)
