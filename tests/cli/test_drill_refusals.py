"""Drills through the command line, refused before any process starts: a plan requiring a
recent drill exits 6 at ``rollout start``; bad ``--levels`` exit 2. Nothing is changed."""

from __future__ import annotations

import json
from pathlib import Path

from rollsafe.cli.exits import Exit
from tests.cli.conftest import Run
from tests.config.test_plan_errors import VALID, write


def _plan(tmp_path: Path, drill: str) -> Path:
    (tmp_path / "shop" / "releases" / "1.1.0").mkdir(parents=True)
    return write(tmp_path, f"{VALID}drill: {drill}\n")


def test_a_rollout_needing_a_recent_drill_is_refused_with_exit_6(
    tmp_path: Path, rollsafe: Run
) -> None:
    path = _plan(tmp_path, "{require_within: 7d}")

    started = rollsafe("rollout", "start", str(path))

    assert started.returncode == Exit.REFUSED == 6, started.stdout + started.stderr
    message = started.stderr.replace("\n", "")
    assert "requires a passed rollback drill of shop within 7.0 days; there is none" in message
    assert "run 'rollsafe drill PLAN' first" in message
    listed = rollsafe("rollout", "list", "--json")
    assert json.loads(listed.stdout) == []


def test_bad_levels_are_refused_with_exit_2(tmp_path: Path, rollsafe: Run) -> None:
    path = _plan(tmp_path, "{}")

    for levels, message in (
        ("9", "--levels: must name levels 1, 2 or 3, got [9]"),
        ("one", "--levels: must be numbers 1-3 separated by commas, got 'one'"),
    ):
        drilled = rollsafe("drill", str(path), "--levels", levels)
        assert drilled.returncode == Exit.USAGE, drilled.stdout + drilled.stderr
        assert message in drilled.stderr.replace("\n", "")
    assert json.loads(rollsafe("rollout", "list", "--json").stdout) == []
