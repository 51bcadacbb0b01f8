"""``rollsafe backup create|list|verify|restore`` of a postgres source, on the local server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.backup.databases import execute, fresh_database, orders, with_password

PASSWORD = "cli-s3cret"
PLAN = """\
version: 1
service: shop
target:
  root: shop
  command: ["{python}", "-c", "pass"]
backups:
  - {name: orders, type: postgres, url_env: SHOP_DATABASE_URL}
steps:
  - promote:
"""
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture
def rollsafe(tmp_path: Path, database: str) -> Run:
    """The real command line, with the database's URL (and a password) in its environment."""
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)

    def run(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "COLUMNS": "200",
            "SHOP_DATABASE_URL": with_password(database, PASSWORD),
            **environment,
        }
        return subprocess.run(
            [sys.executable, "-m", "rollsafe", "--home", str(tmp_path / "home"), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=env,
            cwd=tmp_path,
        )

    return run


def create(rollsafe: Run) -> dict[str, object]:
    created = rollsafe("backup", "create", "plan.yaml")
    assert created.returncode == 0, created.stderr
    (backup,) = json.loads(rollsafe("backup", "list", "--json").stdout)
    assert isinstance(backup, dict)
    return backup


def test_create_verify_and_restore_into_the_configured_database(
    rollsafe: Run, database: str
) -> None:
    before = orders(database)
    backup = create(rollsafe)
    assert backup["kind"] == "postgres"
    assert str(backup["path"]).endswith("orders.dump")
    verified = rollsafe("backup", "verify", str(backup["id"]))
    assert verified.returncode == 0, verified.stderr
    assert "readable by pg_restore" in verified.stdout

    execute(database, "UPDATE orders SET qty = 0 WHERE id < 50; DELETE FROM orders WHERE id > 60")
    restored = rollsafe("backup", "restore", str(backup["id"]))
    assert restored.returncode == 0, restored.stderr
    assert orders(database) == before
    assert f"into {database}" in restored.stdout

    journal = rollsafe("journal", "show", "--json")
    assert journal.returncode == 0, journal.stderr
    entries = [json.loads(line) for line in journal.stdout.splitlines()]
    (entry,) = [e for e in entries if e["kind"] == "backup.restored"]
    assert entry["data"]["tables"] == {"public.orders": 100}
    assert PASSWORD not in journal.stdout + rollsafe("backup", "list", "--json").stdout


def test_restore_to_another_database(rollsafe: Run, database: str) -> None:
    backup = create(rollsafe)
    with fresh_database(schema="SELECT 1") as other:
        restored = rollsafe("backup", "restore", str(backup["id"]), "--to", other)
        assert restored.returncode == 0, restored.stderr
        assert orders(other) == orders(database)


def test_a_bad_destination_is_refused_before_anything_changes(
    rollsafe: Run, database: str, tmp_path: Path
) -> None:
    backup = create(rollsafe)
    execute(database, "DELETE FROM orders WHERE id > 10")
    refused = rollsafe("backup", "restore", str(backup["id"]), "--to", str(tmp_path / "x.db"))
    assert refused.returncode == 2
    assert "--to: a postgres backup restores into a database" in refused.stderr
    # The variable now names another database: restoring there would surprise.
    with fresh_database(schema="SELECT 1") as other:
        moved = rollsafe("backup", "restore", str(backup["id"]), SHOP_DATABASE_URL=other)
        assert moved.returncode == 2
        assert "SHOP_DATABASE_URL now names" in moved.stderr
        assert "choose the database with --to" in moved.stderr
    assert len(orders(database)) == 10
    assert not (tmp_path / "x.db").exists()


def test_a_tampered_dump_is_refused(rollsafe: Run, database: str) -> None:
    backup = create(rollsafe)
    execute(database, "DELETE FROM orders WHERE id > 10")
    with Path(str(backup["path"])).open("r+b") as stream:
        stream.seek(200)
        stream.write(b"\x00\xff")
    assert rollsafe("backup", "verify", str(backup["id"])).returncode == 1
    refused = rollsafe("backup", "restore", str(backup["id"]))
    assert refused.returncode == 1
    assert "does not match its checksum" in refused.stderr
    assert len(orders(database)) == 10
