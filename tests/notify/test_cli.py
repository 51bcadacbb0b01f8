"""``rollsafe notify test``: the real command line sends a [test] sample to each channel of a
plan and reports each outcome (exit 1 when one failed, 2 for a bad plan)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from rollsafe.cli import app
from tests.config.test_plan_errors import VALID
from tests.notify.receiver import Receiver


def rollsafe(tmp_path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rollsafe", "--home", str(tmp_path / "home"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        check=False,
    )


def test_each_channel_is_tried_and_reported(tmp_path: Path, receiver: Receiver) -> None:
    plan = tmp_path / "plan.yaml"
    notify = (
        "notify:\n"
        "  - {type: slack, url_env: NOTIFY_TEST_SLACK}\n"
        "  - {type: teams, url_env: NOTIFY_TEST_UNSET}\n"
    )
    plan.write_text(VALID.replace("steps:\n", notify + "steps:\n"))
    env = {"NOTIFY_TEST_SLACK": receiver.url}
    result = rollsafe(tmp_path, "notify", "test", str(plan), "--json", env=env)

    assert result.returncode == 1, result.stderr
    channels = json.loads(result.stdout)["channels"]
    assert [(c["channel"], c["ok"]) for c in channels] == [
        ("notify[0] slack", True),
        ("notify[1] teams", False),
    ]
    assert channels[1]["error"] == "url_env names NOTIFY_TEST_UNSET, which is not set"
    (body,) = receiver.bodies()
    assert body["text"] == ":rotating_light: [test] shop: guard error-rate tripped"


def test_an_unknown_sample_event_is_refused(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(VALID)
    result = CliRunner().invoke(app, ["notify", "test", str(plan), "--event", "nope"])
    assert result.exit_code == 2
    assert "--event must be one of" in result.output
