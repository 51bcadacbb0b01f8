"""``rollsafe controller run`` writes the incident report of each rollout it ends unpromoted,
as ``rollout start`` does (issue 11: only the foreground commands wrote them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rollsafe.controller import Controller
from rollsafe.store import RolloutState, open_store_url

pytestmark = pytest.mark.slow

# The deploy fails at once. With nothing answering the health checks (port 9 on
# loopback) no rollback level recovers and the rollout fails; with a healthy endpoint
# the first level recovers it. Either way it ends in a second or two.
FAILING = """\
version: 1
service: broken
target:
  type: command
  deploy: [["sh", "-c", "echo no disk >&2; false"]]
  endpoints: ["{endpoint}"]
  health: {{timeout: 500ms, interval: 100ms, retries: 2}}
  cwd: .
  state_dir: state
rollback:
  levels: [flags]
  verify: {{for: 1s, interval: 200ms}}
steps:
  - deploy: {{release: 2.0.0}}
  - promote:
"""

PROMOTING = """\
version: 1
service: fine
target:
  root: {root}
  command: ["{{python}}", "-c", "pass"]
flags:
  - name: feature
guards: []
steps:
  - flag: {{name: feature, rollout: 100}}
  - promote:
"""


def test_the_controller_reports_the_rollouts_it_ends_unpromoted(
    tmp_path: Path, healthy_endpoint: str
) -> None:
    home = tmp_path / "home"
    store = open_store_url(tmp_path / "rollsafe.db")
    plans = {
        "failing": FAILING.format(endpoint="http://127.0.0.1:9"),
        "rolled_back": FAILING.format(endpoint=healthy_endpoint),
        "promoting": PROMOTING.format(root=tmp_path / "target"),
    }
    ids = {}
    for name, text in plans.items():
        (tmp_path / f"{name}.yaml").write_text(text)
        ids[name] = Controller(store, home).create(tmp_path / f"{name}.yaml", actor="test").id

    run = subprocess.run(
        [sys.executable, "-m", "rollsafe", "--home", str(home), "--store",
         str(tmp_path / "rollsafe.db"), "controller", "run", "--once", "--poll", "0.1"],
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "300"},
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr

    states = {name: store.get_rollout(i).state for name, i in ids.items()}
    assert states == {
        "failing": RolloutState.FAILED,
        "rolled_back": RolloutState.ROLLED_BACK,
        "promoting": RolloutState.PROMOTED,
    }
    reports = home / "reports"
    for name in ("failing", "rolled_back"):
        report = json.loads((reports / ids[name] / "incident.json").read_text())
        assert report["rollout_id"] == ids[name]
        assert report["outcome"] == states[name].value
        markdown = reports / ids[name] / "incident.md"
        assert ids[name] in markdown.read_text()
        assert f"incident report: {markdown}" in run.stdout
        # and its HTML page (no analysis step here: no charts, said so), linked from it
        page = (reports / ids[name] / "incident.html").read_text()
        assert ids[name] in page
        assert "no analysis step looked at metrics" in page
        assert "](incident.html)" in markdown.read_text()
    assert not (reports / ids["promoting"]).exists()
    store.close()
