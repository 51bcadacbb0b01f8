"""``rollsafe backup``: create with retention, list, verify, restore; tampering is refused."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from tests.cli.conftest import Run

PLAN = """\
version: 1
service: shop
target:
  root: shop
  command: ["{python}", "-c", "pass"]
backups:
  - {name: orders, type: sqlite, path: shop.db}
steps:
  - promote:
"""


def make_db(path: Path, rows: int) -> None:
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, item TEXT)")
        db.executemany("INSERT INTO orders (item) VALUES (?)", [(f"i{n}",) for n in range(rows)])
    db.close()


def count(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM orders").fetchone()[0])
    finally:
        db.close()


def test_create_list_verify_restore_and_retention(tmp_path: Path, rollsafe: Run) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    make_db(tmp_path / "shop.db", 3)
    for _ in range(3):
        result = rollsafe("backup", "create", str(plan), "--keep", "2")
        assert result.returncode == 0, result.stderr
        make_db(tmp_path / "shop.db", 1)  # the live data moves on between backups
    listed = json.loads(rollsafe("backup", "list", "--json").stdout)
    assert len(listed) == 2  # retention kept the newest two
    newest = listed[0]
    assert Path(newest["path"]).exists()
    assert rollsafe("backup", "verify", newest["id"]).returncode == 0

    assert count(tmp_path / "shop.db") == 6
    restored = rollsafe("backup", "restore", newest["id"])
    assert restored.returncode == 0, restored.stderr
    assert count(tmp_path / "shop.db") == 5  # the state when the newest backup was taken

    with Path(newest["path"]).open("r+b") as stream:
        stream.seek(100)
        stream.write(b"\x00\xff")
    assert rollsafe("backup", "verify", newest["id"]).returncode == 1
    refused = rollsafe("backup", "restore", newest["id"])
    assert refused.returncode == 1
    assert "does not match its checksum" in refused.stderr
    assert count(tmp_path / "shop.db") == 5


def test_unknown_source_is_refused_before_anything_is_written(
    tmp_path: Path, rollsafe: Run
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    make_db(tmp_path / "shop.db", 1)
    result = rollsafe("backup", "create", str(plan), "--source", "nope")
    assert result.returncode == 2
    assert "nope not declared under backups" in result.stderr
    assert not (tmp_path / "home").exists()


def one_backup(tmp_path: Path, rollsafe: Run, rows: int) -> dict[str, Any]:
    """Back up a shop.db of ``rows`` orders; the backup as ``backup create --json`` says."""
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    make_db(tmp_path / "shop.db", rows)
    created = rollsafe("backup", "create", str(plan), "--json")
    assert created.returncode == 0, created.stderr
    (backup,) = json.loads(created.stdout)
    return dict(backup)


def test_a_moved_home_still_verifies_and_restores(tmp_path: Path, rollsafe: Run) -> None:
    backup = one_backup(tmp_path, rollsafe, 3)

    moved = tmp_path / "elsewhere" / "home"
    moved.parent.mkdir()
    (tmp_path / "home").rename(moved)
    make_db(tmp_path / "shop.db", 2)

    listed = json.loads(rollsafe("backup", "list", "--json", home=moved).stdout)
    assert Path(listed[0]["path"]).is_relative_to(moved)
    verified = rollsafe("backup", "verify", backup["id"], "--json", home=moved)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["ok"] is True
    restored = rollsafe("backup", "restore", backup["id"], home=moved)
    assert restored.returncode == 0, restored.stderr
    assert count(tmp_path / "shop.db") == 3


def test_a_backup_recorded_with_an_absolute_path_is_still_read(
    tmp_path: Path, rollsafe: Run
) -> None:
    """Stores written before paths were relative hold absolute ones; they keep working."""
    backup = one_backup(tmp_path, rollsafe, 4)
    db = sqlite3.connect(tmp_path / "home" / "rollsafe.db")
    with db:
        db.execute("UPDATE backups SET path = ?", (backup["path"],))
        (stored,) = db.execute("SELECT path FROM backups").fetchone()
    db.close()
    assert Path(stored).is_absolute()
    assert rollsafe("backup", "verify", backup["id"]).returncode == 0
    make_db(tmp_path / "shop.db", 1)
    assert rollsafe("backup", "restore", backup["id"]).returncode == 0
    assert count(tmp_path / "shop.db") == 4
