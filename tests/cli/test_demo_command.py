"""``rollsafe demo --json``: the main job end to end, on the embedded default."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rollsafe.store import SqliteStore
from tests.demo.workdirs import processes_of

pytestmark = pytest.mark.slow


def test_demo_promotes_and_leaves_nothing_running(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "rollsafe", "demo", "--workdir", str(workdir), "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["outcome"] == "promoted"
    assert summary["seconds"] < 90
    home = Path(summary["home"])
    events = [event["event"] for event in summary["timeline"]]
    assert events[0] == "rollout.created"
    assert events[-1] == "rollout.promoted"
    verdicts = [event["verdict"] for event in summary["timeline"] if "verdict" in event]
    assert verdicts == ["pass"] * 4
    assert all(
        b["t"] >= a["t"] for a, b in zip(summary["timeline"], summary["timeline"][1:], strict=False)
    )
    assert summary["load"]["sent"] > 1000

    assert processes_of(workdir) == []

    verify = subprocess.run(
        [sys.executable, "-m", "rollsafe", "--home", str(home), "journal", "verify"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    store = SqliteStore(home / "rollsafe.db")
    try:
        flag = store.get_flag("fast-checkout")
        assert flag.definition["strategies"][0]["parameters"]["rollout"] == "100"
        assert [b.source for b in store.list_backups()] == ["orders"]
    finally:
        store.close()
