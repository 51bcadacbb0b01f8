"""Each demo fault ends rolled back at exactly its level, healthy, with a report (real shop)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rollsafe.config import load_plan
from rollsafe.demo.runner import DemoResult, run_demo
from rollsafe.store import SqliteStore
from rollsafe.targets import ProcessTarget

pytestmark = pytest.mark.slow


def orders(db: Path) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return connection.execute("SELECT * FROM orders ORDER BY id").fetchall()
    finally:
        connection.close()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Runs the demo with the shop left up; stops it afterwards whatever happened."""
    runs: dict[str, Any] = {}
    yield runs
    workdir = runs.get("workdir")
    if workdir is not None:
        plan = load_plan(workdir / "plan.yaml")
        ProcessTarget(plan.target, service=plan.service, home=workdir / "home").stop()


def run(demo: dict[str, Any], workdir: Path, fault: str, **kwargs: Any) -> DemoResult:
    demo["workdir"] = workdir
    return run_demo(workdir, fault=fault, keep_running=True, **kwargs)


def assert_healthy_on(workdir: Path, release: str) -> None:
    plan = load_plan(workdir / "plan.yaml")
    target = ProcessTarget(plan.target, service=plan.service, home=workdir / "home")
    assert target.current_release() == release
    assert target.check_health().healthy
    for url in target.endpoints():
        assert httpx.get(f"{url}/health", timeout=2).json()["release"] == release
        placed = httpx.post(
            f"{url}/checkout",
            json={"user_id": "after-rollback", "items": [{"product_id": 1, "quantity": 1}]},
            timeout=5,
        )
        assert placed.status_code == 201, placed.text


def assert_report(result: DemoResult, level: int) -> dict[str, Any]:
    assert result.report is not None
    assert result.report.exists()
    report = json.loads(result.report.with_name("incident.json").read_text())
    assert report["final_level"] == level
    assert report["trigger"] is not None
    assert "To answer (person)" in result.report.read_text()
    return report


@pytest.mark.parametrize(
    ("fault", "level", "release"),
    [("errors", 1, "1.1.0"), ("latency", 1, "1.1.0"), ("leak", 2, "1.0.0")],
)
def test_fault_rolls_back_at_its_level(
    demo: dict[str, Any], tmp_path: Path, fault: str, level: int, release: str
) -> None:
    result = run(demo, tmp_path / fault, fault)
    summary = result.to_dict()
    assert summary["outcome"] == "rolled_back", summary["timeline"]
    assert summary["final_level"] == level
    assert [lvl["recovered"] for lvl in summary["levels"]] == [False] * (level - 1) + [True]
    assert summary["fault_onset"] <= summary["detected_at"] <= summary["recovered_at"]
    assert_report(result, level)
    assert_healthy_on(tmp_path / fault, release)


def test_corrupt_restores_every_order_written_before_the_backup(
    demo: dict[str, Any], tmp_path: Path
) -> None:
    workdir = tmp_path / "corrupt"
    before: list[tuple[Any, ...]] = []

    def snapshot_orders() -> None:
        # Runs before the rollout exists, so every order seen here precedes its backup.
        time.sleep(2)  # let the load place some orders first
        before.extend(orders(workdir / "shop" / "data" / "shop.db"))

    result = run(demo, workdir, "corrupt", before_rollout=snapshot_orders)
    summary = result.to_dict()
    assert summary["outcome"] == "rolled_back", summary["timeline"]
    assert summary["final_level"] == 3
    assert [lvl["recovered"] for lvl in summary["levels"]] == [False, False, True]
    report = assert_report(result, 3)
    assert report["data"]["restored"], "the report names the restored data"

    assert len(before) > 10
    after = {row[0]: row for row in orders(workdir / "shop" / "data" / "shop.db")}
    missing = [row for row in before if after.get(row[0]) != row]
    assert missing == []  # present and byte-equal, column by column
    # Orders placed after the backup and before 1.1.0 broke the table were taken away by the
    # restore: the report counts them and lists them in a file, to be placed again.
    (lost,) = report["data"]["lost_rows"]
    lines = [
        json.loads(line) for line in (workdir / "home" / lost["file"]).read_text().splitlines()
    ]
    added = [
        line["row"] for line in lines if (line["table"], line["change"]) == ("orders", "added")
    ]
    assert lost["tables"]["orders"]["added"] == len(added)
    assert all(row["id"] > before[-1][0] for row in added)
    assert f"`{lost['file']}`" in result.report.read_text()
    assert_healthy_on(workdir, "1.0.0")
    store = SqliteStore(workdir / "home" / "rollsafe.db")
    try:
        assert store.verify_journal().ok
    finally:
        store.close()


def test_no_fault_promotes(demo: dict[str, Any], tmp_path: Path) -> None:
    result = run(demo, tmp_path / "none", "none")
    summary = result.to_dict()
    assert summary["outcome"] == "promoted", summary["timeline"]
    assert summary["final_level"] == 0
    assert summary["levels"] == []
    assert result.report is None
    assert_healthy_on(tmp_path / "none", "1.1.0")
