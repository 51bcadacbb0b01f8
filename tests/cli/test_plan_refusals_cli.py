"""Refused plans through the command line: file:line as written, exit 2, nothing changed."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Run
from tests.config.test_plan_errors import VALID, write


def test_line_100_is_printed_as_written_and_exits_2(tmp_path: Path, rollsafe: Run) -> None:
    # Rich turned ":100:" into an emoji, so the location read "plan.yaml💯".
    padding = "#\n" * (100 - VALID.count("\n") - 1)
    path = write(tmp_path, VALID + padding + "servise: x\n")
    result = rollsafe("plan", "validate", "--text-only", str(path))
    assert result.returncode == 2
    assert f"{path}:100: servise: unknown key" in result.stderr.replace("\n", "")
    assert "Traceback" not in result.stderr


def test_a_missing_release_stops_rollout_start_before_any_change(
    tmp_path: Path, rollsafe: Run
) -> None:
    (tmp_path / "shop").mkdir()
    path = write(tmp_path, VALID)
    for command in (("plan", "validate"), ("rollout", "start")):
        result = rollsafe(*command, str(path))
        assert result.returncode == 2, result.stdout
        assert f"{path}:15: steps[1].deploy.release: release '1.1.0' is not installed" in (
            result.stderr.replace("\n", "")
        )
    assert not (tmp_path / "home").exists()
    assert rollsafe("plan", "validate", "--text-only", str(path)).returncode == 0


def test_a_misspelt_key_never_prints_the_plans_secrets(tmp_path: Path, rollsafe: Run) -> None:
    text = VALID.replace(
        "steps:",
        "backups:\n  - {name: db, type: postgres, url: 'postgresql://u:s3cret-pw@db/x'}\nSteps:",
    ).replace("backups:\n  - name: orders\n    type: sqlite\n    path: shop/data/shop.db\n", "")
    path = write(tmp_path, text)
    result = rollsafe("plan", "validate", "--text-only", str(path))
    assert result.returncode == 2
    assert "Steps: unknown key" in result.stderr
    assert "s3cret-pw" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
