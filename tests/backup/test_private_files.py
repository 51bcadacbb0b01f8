"""The home, store, backups and reports are private (0700/0600), even under umask 000."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollsafe.backup.postgres import snapshot_postgres
from rollsafe.config.backup_sources import PostgresBackupSource
from rollsafe.journal import JournalEntry
from rollsafe.report import write_incident
from tests.backup.databases import fresh_database


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes_under(root: Path) -> dict[str, int]:
    found = {".": mode(root)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = mode(path)
    return found


def assert_private(root: Path) -> None:
    for name, bits in modes_under(root).items():
        expected = 0o700 if (root / name).is_dir() else 0o600
        assert bits == expected, f"{name}: {oct(bits)}"


@pytest.fixture
def umask_000() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_backup_create_makes_a_private_home_under_umask_000(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "shop.db")
    with db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    db.close()
    (tmp_path / "plan.yaml").write_text(
        "version: 1\nservice: shop\ntarget: {root: shop, command: [x]}\n"
        "backups:\n  - {name: orders, type: sqlite, path: shop.db}\n"
        "  - {name: assets, type: files, path: plan.yaml}\nsteps:\n  - promote:\n"
    )
    home = tmp_path / "state" / "home"  # its parent is made too
    created = subprocess.run(
        [sys.executable, "-m", "rollsafe", "--home", str(home), "backup", "create", "plan.yaml"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        umask=0,
    )
    assert created.returncode == 0, created.stderr
    found = modes_under(tmp_path / "state")
    assert {"home/rollsafe.db", "home/backups", "home/reports", "home/logs"} <= set(found)
    assert any(name.endswith("orders.db") for name in found)
    assert any(name.endswith("assets.tar.gz") for name in found)
    assert any(name.endswith("orders.db.manifest.json") for name in found)
    assert_private(tmp_path / "state")


def test_an_incident_report_is_private_under_umask_000(tmp_path: Path, umask_000: None) -> None:
    entry = JournalEntry(
        seq=1, ts=0.0, kind="rollout.created", actor="t", rollout_id="r", data={"steps": []},
        prev_hash="", hash="",
    )  # fmt: skip
    markdown = write_incident(tmp_path / "reports" / "r", [entry])
    assert json.loads((markdown.parent / "incident.json").read_text())
    assert_private(tmp_path / "reports")


def test_a_postgres_dump_is_private_under_umask_000(tmp_path: Path, umask_000: None) -> None:
    with fresh_database() as url:
        snapshot_postgres(PostgresBackupSource(name="shop", url=url), tmp_path / "b")  # type: ignore[arg-type]
    assert_private(tmp_path / "b")
