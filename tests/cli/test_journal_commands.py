"""``rollsafe journal verify`` exits 1 naming the first entry edited behind its back."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.cli.conftest import Run


def test_verify_detects_an_edited_row(tmp_path: Path, rollsafe: Run) -> None:
    for percent in ("10", "50", "100"):
        assert rollsafe("flags", "set", "checkout", "--rollout", percent).returncode == 0
    ok = rollsafe("journal", "verify")
    assert ok.returncode == 0, ok.stderr
    assert "3 entries" in ok.stdout

    db = sqlite3.connect(tmp_path / "home" / "rollsafe.db")
    with db:
        db.execute("UPDATE journal SET actor = 'someone-else' WHERE seq = 2")
    db.close()
    broken = rollsafe("journal", "verify")
    assert broken.returncode == 1
    assert "journal broken at entry 2" in broken.stdout


def test_show_lists_entries_for_people_and_machines(rollsafe: Run) -> None:
    assert rollsafe("flags", "set", "checkout", "--off").returncode == 0
    text = rollsafe("journal", "show")
    assert "flag.changed" in text.stdout
    assert "checkout" in text.stdout
    as_json = rollsafe("journal", "show", "--json")
    # JSON lines: one whole object per line, so grep and a streaming reader both work.
    lines = as_json.stdout.splitlines()
    assert len(lines) == 1
    (entry,) = [json.loads(line) for line in lines]
    assert entry["kind"] == "flag.changed"
    assert entry["data"]["name"] == "checkout"


def test_verify_reports_as_json(rollsafe: Run) -> None:
    assert rollsafe("flags", "set", "checkout", "--off").returncode == 0
    result = rollsafe("journal", "verify", "--json")
    assert result.returncode == 0, result.stderr
    verified = json.loads(result.stdout)
    assert (verified["ok"], verified["entries"], verified["broken_seq"]) == (True, 1, None)


def test_verify_without_a_home_is_an_error(tmp_path: Path, rollsafe: Run) -> None:
    result = rollsafe("journal", "verify", home=tmp_path / "nowhere")
    assert result.returncode == 1
    assert "no rollsafe state" in result.stderr
