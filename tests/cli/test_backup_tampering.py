"""``rollsafe backup verify`` refuses a forged -wal beside a SQLite backup; restore ignores it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.backup.test_sqlite_side_files import forge_wal, items, live_database
from tests.cli.conftest import Run


def test_backup_verify_exits_1_on_a_planted_wal(tmp_path: Path, rollsafe: Run) -> None:
    live_database(tmp_path / "shop.db")
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "version: 1\nservice: shop\ntarget: {root: shop, command: [x]}\n"
        "backups:\n  - {name: orders, type: sqlite, path: shop.db}\nsteps:\n  - promote:\n"
    )

    assert rollsafe("backup", "create", str(plan)).returncode == 0
    (record,) = json.loads(rollsafe("backup", "list", "--json").stdout)
    assert rollsafe("backup", "verify", record["id"]).returncode == 0
    forge_wal(Path(record["path"]), tmp_path)
    verified = rollsafe("backup", "verify", record["id"])
    assert verified.returncode == 1
    assert "orders.db-wal" in verified.stdout.replace("\n", "")
    assert rollsafe("backup", "restore", record["id"]).returncode == 0
    assert items(tmp_path / "shop.db") == ["a", "b"]
