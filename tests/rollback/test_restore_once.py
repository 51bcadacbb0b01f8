"""A controller SIGKILLed after the L3 restore, before the level ended, never restores again.

The kill lands while the level verifies: the restore is done, the previous release
serves again and has acknowledged a write. ``resume`` must verify and finish, not
restore a second time (which would wipe that write). The data the restore
replaced is kept as a private forensic copy, and the rows written after the
backup that the restore took away are listed for a person to re-apply.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rollsafe.config import load_plan
from rollsafe.controller import Controller
from rollsafe.report import build_incident, render_markdown
from rollsafe.store import RolloutState, SqliteStore
from rollsafe.targets import ProcessTarget
from tests.rollback.services import TARGET, install_releases

pytestmark = pytest.mark.slow  # starts real service processes

PLAN = f"""\
{TARGET}backups:
  - {{name: orders, type: sqlite, path: data/orders.db}}
rollback:
  levels: [restore]
  verify: {{for: 0s}}
steps:
  - backup:
  - deploy: {{release: 2.0.0}}
  - pause:
  - deploy: {{release: 3.0.0}}
"""

# The resumed controller, killed with SIGKILL once the restore is done and the
# service (back on 1.0.0) has acknowledged a write: the moment of issue 17, item 1.
KILLED_WHILE_VERIFYING = textwrap.dedent(
    """
    import os, signal, sqlite3, sys
    from pathlib import Path
    from rollsafe.controller import Controller, rollback
    from rollsafe.store import SqliteStore

    home, rollout_id, db = Path(sys.argv[1]), sys.argv[2], sys.argv[3]

    def acknowledge_then_die(context):
        with sqlite3.connect(db) as conn:
            conn.execute("INSERT INTO orders (item, qty) VALUES ('after the restore', 1)")
        os.kill(os.getpid(), signal.SIGKILL)

    rollback.verify_recovery = acknowledge_then_die
    Controller(SqliteStore(home / "rollsafe.db"), home).run(rollout_id, resume=True)
    """
)


def rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, item, qty FROM orders ORDER BY id").fetchall()


class Shop:
    def __init__(self, tmp_path: Path) -> None:
        self.plan_path = tmp_path / "plan.yaml"
        self.plan_path.write_text(PLAN)
        install_releases(tmp_path / "root", "1.0.0", "2.0.0", crashing="3.0.0")
        self.db = tmp_path / "data" / "orders.db"
        self.db.parent.mkdir()
        with sqlite3.connect(self.db) as conn:
            conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT, qty INTEGER)")
            conn.executemany(
                "INSERT INTO orders (item, qty) VALUES (?, ?)",
                [(f"item-{n}", n) for n in range(1, 51)],
            )
        self.home = tmp_path / "home"
        plan = load_plan(self.plan_path)
        self.target = ProcessTarget(plan.target, service=plan.service, home=self.home)
        self.target.deploy("1.0.0")
        self.store = SqliteStore(self.home / "rollsafe.db")


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    made = Shop(tmp_path)
    try:
        yield made
    finally:
        made.target.stop()
        made.store.close()


def test_resume_after_a_kill_past_the_restore_does_not_restore_again(shop: Shop) -> None:
    controller = Controller(shop.store, shop.home)
    rollout = controller.create(shop.plan_path)
    assert controller.run(rollout.id).state is RolloutState.PAUSED  # backed up, 2.0.0 live
    backed_up = rows(shop.db)
    with sqlite3.connect(shop.db) as conn:  # 2.0.0 takes orders and changes one
        conn.executemany(
            "INSERT INTO orders (item, qty) VALUES (?, ?)", [(f"new-{n}", n) for n in range(7)]
        )
        conn.execute("UPDATE orders SET qty = -1 WHERE id = 3")
    before_restore = rows(shop.db)

    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WHILE_VERIFYING, str(shop.home), rollout.id, str(shop.db)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert rows(shop.db) == [*backed_up, (51, "after the restore", 1)]

    ended = Controller(shop.store, shop.home).run(rollout.id, resume=True)

    assert ended.state is RolloutState.ROLLED_BACK, ended.reason
    assert rows(shop.db) == [*backed_up, (51, "after the restore", 1)]  # the write survived
    journal = shop.store.journal(rollout.id)
    restores = [e.data["id"] for e in journal if e.kind == "backup.restored"]
    assert restores == [f"{rollout.id}-orders"]  # once, before the kill
    levels = [e.data for e in journal if e.kind == "rollback.level_ended"]
    assert [(lvl["level"], lvl["recovered"]) for lvl in levels] == [(3, True)]
    assert levels[0]["result"]["restored"] == []
    assert levels[0]["result"]["restored_before"] == [f"{rollout.id}-orders"]
    assert shop.target.current_release() == "1.0.0"
    assert not shop.target.in_maintenance()
    assert shop.store.verify_journal().ok

    # The data the restore replaced, kept private.
    (copy,) = [e.data for e in journal if e.kind == "backup.forensic_copy"]
    copy_path = shop.home / copy["copy"]
    assert copy_path.stat().st_mode & 0o777 == 0o600
    assert copy_path.parent.stat().st_mode & 0o777 == 0o700
    with sqlite3.connect(copy_path) as conn:
        assert conn.execute("SELECT id, item, qty FROM orders ORDER BY id").fetchall() == (
            before_restore
        )
    # What it took away: 7 orders written after the backup, and one change.
    (lost,) = [e.data for e in journal if e.kind == "backup.lost_rows"]
    assert lost["tables"] == {"orders": {"added": 7, "changed": 1, "removed": 0}}
    lines = [json.loads(line) for line in (shop.home / lost["file"]).read_text().splitlines()]
    assert sorted((line["change"], line["row"]["id"]) for line in lines) == [
        ("added", n) for n in range(51, 58)
    ] + [("changed", 3)]
    assert (shop.home / lost["file"]).stat().st_mode & 0o777 == 0o600

    report = build_incident(journal)
    (lost_in_report,) = report["data"]["lost_rows"]
    assert lost_in_report["rows"] == 8
    assert lost["file"] in render_markdown(report)


def test_a_restore_by_hand_before_the_rollback_does_not_count_as_its_restore(shop: Shop) -> None:
    controller = Controller(shop.store, shop.home)
    rollout = controller.create(shop.plan_path)
    assert controller.run(rollout.id).state is RolloutState.PAUSED
    backed_up = rows(shop.db)
    (backup,) = shop.store.list_backups()
    home = ["--home", str(shop.home)]
    by_hand = subprocess.run(
        [sys.executable, "-m", "rollsafe", *home, "backup", "restore", backup.id],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert by_hand.returncode == 0, by_hand.stderr
    with sqlite3.connect(shop.db) as conn:  # 2.0.0 goes on writing afterwards
        conn.execute("INSERT INTO orders (item, qty) VALUES ('after the restore by hand', 1)")

    ended = controller.run(rollout.id, resume=True)

    assert ended.state is RolloutState.ROLLED_BACK, ended.reason
    assert rows(shop.db) == backed_up  # level 3 restored, whatever was done by hand before
    restores = [e for e in shop.store.journal(rollout.id) if e.kind == "backup.restored"]
    assert len(restores) == 2


def test_a_files_source_is_kept_whole_before_its_restore(tmp_path: Path) -> None:
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(
        f"{TARGET}backups:\n  - {{name: uploads, type: files, path: uploads}}\n"
        "rollback: {levels: [restore], verify: {for: 0s}}\n"
        "steps:\n  - backup:\n  - deploy: {release: 2.0.0}\n  - pause:\n"
        "  - deploy: {release: 3.0.0}\n"
    )
    install_releases(tmp_path / "root", "1.0.0", "2.0.0", crashing="3.0.0")
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "a.txt").write_text("before the rollout")
    home = tmp_path / "home"
    plan = load_plan(plan_path)
    target = ProcessTarget(plan.target, service=plan.service, home=home)
    target.deploy("1.0.0")
    store = SqliteStore(home / "rollsafe.db")
    try:
        controller = Controller(store, home)
        rollout = controller.create(plan_path)
        assert controller.run(rollout.id).state is RolloutState.PAUSED
        (uploads / "b.txt").write_text("uploaded after the backup")

        ended = controller.run(rollout.id, resume=True)

        assert ended.state is RolloutState.ROLLED_BACK, ended.reason
        assert sorted(p.name for p in uploads.iterdir()) == ["a.txt"]
        journal = store.journal(rollout.id)
        (copy,) = [e.data for e in journal if e.kind == "backup.forensic_copy"]
        with tarfile.open(home / copy["copy"]) as archive:
            assert "uploads/b.txt" in archive.getnames()  # what the restore took away, kept
        text = render_markdown(build_incident(journal))
        assert "compare the forensic copy by hand" in text
    finally:
        target.stop()
        store.close()
