"""``rollsafe drill`` on the real sample shop: all three levels, timed against their targets,
and a level-3 restore of the shop's SQLite database verified by row counts.

The shop (two real processes, tests/controller/conftest.py) runs 1.0.0. The drill
deploys 1.1.0 with its flag on; while level 1 is verified, the test writes orders
straight into the shop's database, as customers would: level 3 must take them
away again, leaving each table with exactly the rows the drill's backup holds.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from rollsafe.backup.sqlite import table_counts
from rollsafe.journal.kinds import Kind
from rollsafe.store import open_store_url
from tests.controller.conftest import Shop

pytestmark = pytest.mark.slow

STEPS = """\
steps:
  - deploy: {release: 1.1.0}
  - analysis: {duration: 30s}
  - flag: {name: fast-checkout, rollout: 100}
  - promote:
drill:
  targets: {flags: 2m, release: 15m, restore: 45m}
"""


def _write_orders_once_deployed(shop: Shop, stop: threading.Event) -> None:
    """Wait for the drill's deploy (its first rollback level starting), then add orders."""
    while not stop.wait(0.05):
        if not (shop.home / "rollsafe.db").exists():
            continue
        store = open_store_url(shop.home / "rollsafe.db")
        try:
            kinds = {entry.kind for entry in store.journal()}
        finally:
            store.close()
        if Kind.ROLLBACK_LEVEL_STARTED in kinds:
            with sqlite3.connect(shop.workdir / "shop" / "data" / "shop.db") as db:
                db.executemany(
                    "INSERT INTO orders (user_id, total_cents, created_at) VALUES (?, ?, ?)",
                    [(f"drill-{n}", 100 * n, time.time()) for n in range(5)],
                )
            return


def test_a_drill_times_every_level_and_restores_the_shop_data(shop: Shop) -> None:
    text = shop.plan_path.read_text()
    text = text[: text.index("steps:")].replace("for: 6s", "for: 500ms") + STEPS
    shop.plan_path.write_text(text)
    stop = threading.Event()
    writer = threading.Thread(target=_write_orders_once_deployed, args=(shop, stop))
    writer.start()
    try:
        done = shop.rollsafe("drill", str(shop.plan_path), "--levels", "1,2,3", "--json")
    finally:
        stop.set()
        writer.join(10)

    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] is True
    assert result["problems"] == []
    assert [level["name"] for level in result["levels"]] == ["flags", "release", "restore"]
    targets = {"flags": 120, "release": 900, "restore": 2700}
    for level in result["levels"]:
        assert level["ran"] is True
        assert level["recovered"] is True
        assert level["target_seconds"] == targets[level["name"]]
        assert level["within_target"] is True
        assert 0 <= level["action_seconds"] <= level["seconds"]
        assert level["verification_seconds"] >= 0.5  # verify.for
    restore = result["levels"][2]
    assert 0 < restore["restore_seconds"] <= restore["action_seconds"]
    (restored,) = restore["restored"]
    assert restored["row_counts"] == "equal to the backup"
    # The shop's data now holds exactly the backup's rows: the orders written after it went.
    live = table_counts(shop.workdir / "shop" / "data" / "shop.db")
    assert restored["tables"]["orders"] == live["orders"]
    assert {t: live[t] for t in restored["tables"]} == restored["tables"]
    store = open_store_url(shop.home / "rollsafe.db")
    try:
        journal = store.journal(result["rollout"])
        lost = [e.data for e in journal if e.kind == Kind.BACKUP_LOST_ROWS]
        (finished,) = [e.data for e in journal if e.kind == Kind.DRILL_FINISHED]
    finally:
        store.close()
    assert lost[0]["tables"]["orders"]["added"] == 5
    assert finished["ok"] is True
    assert shop.target.current_release() == "1.0.0"
    # The report, in Markdown and JSON, beside the incident reports.
    report = Path(result["report"])
    assert report == shop.home / "reports" / result["rollout"] / "drill.md"
    markdown = report.read_text()
    assert "Rollback drill of shop: passed" in markdown
    assert "| 3 (restore) |" in markdown
    assert f"| orders | {live['orders']} | equal to the backup |" in markdown
    assert json.loads(report.with_suffix(".json").read_text())["ok"] is True
    # And `rollout status` shows it as the service's last drill.
    status = shop.rollsafe("rollout", "status", result["rollout"], "--json")
    assert json.loads(status.stdout)["last_drill"]["rollout"] == result["rollout"]
