"""Exit codes a CI can trust (docs/cli.md), and output people can read, on real rollouts.

The rollouts here use a command target whose deploy fails at once, so they end in
seconds: with its endpoint down no rollback level recovers (failed, exit 5); with a
loopback server answering its health checks the first level does (rolled back, 3).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rollsafe.cli.exits import Exit, of_demo, of_rollback, of_rollout
from rollsafe.store import RolloutState
from tests.cli.conftest import Run

pytestmark = pytest.mark.slow  # starts real service processes

NOISE = [f"deploy-output-{n}-of-10" for n in range(1, 11)]

PLAN = """\
version: 1
service: noisy
target:
  type: command
  deploy:
    - ["sh", "-c", "for n in 1 2 3 4 5 6 7 8 9 10; do echo deploy-output-$n-of-10 >&2; done; false"]
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


def write_plan(tmp_path: Path, endpoint: str) -> Path:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.format(endpoint=endpoint))
    return plan


NOBODY = "http://127.0.0.1:9"
"""Port 9 (discard) on loopback: nothing listens, so no level can recover the service."""


def test_a_long_failure_reason_is_printed_once(tmp_path: Path, rollsafe: Run) -> None:
    """It was printed five times: by the failed step, rolling_back, rollback.started, the
    final state's line and the command's summary."""
    started = rollsafe("rollout", "start", str(write_plan(tmp_path, NOBODY)))
    printed = started.stdout + started.stderr
    for line in NOISE:
        assert printed.count(line) == 1, printed
    assert "no rollback level recovered the service" in started.stdout

    status = rollsafe("rollout", "status")
    for line in NOISE:  # the reason in full, once; the step's row shows its first line
        assert status.stdout.count(line) == 1, status.stdout
    assert not re.search(r"[\[{]'", status.stdout)  # no Python reprs
    assert "release=2.0.0" in status.stdout


def test_a_failed_rollout_exits_5(tmp_path: Path, rollsafe: Run) -> None:
    started = rollsafe("rollout", "start", str(write_plan(tmp_path, NOBODY)))
    assert started.returncode == Exit.FAILED == 5, started.stdout + started.stderr
    status = rollsafe("rollout", "status")
    assert status.returncode == Exit.FAILED, status.stdout + status.stderr

    as_json = rollsafe("rollout", "status", "--json")
    assert as_json.returncode == Exit.FAILED
    summary = json.loads(as_json.stdout)
    assert summary["state"] == "failed"
    assert [(s["kind"], s["state"]) for s in summary["steps"]] == [
        ("deploy", "failed"),
        ("promote", "pending"),
    ]
    assert NOISE[-1] in summary["steps"][0]["result"]["error"]


def test_a_rolled_back_rollout_exits_3_and_asking_to_roll_back_exits_0(
    tmp_path: Path, rollsafe: Run, healthy_endpoint: str
) -> None:
    plan = write_plan(tmp_path, healthy_endpoint)
    started = rollsafe("rollout", "start", str(plan), "--json")
    assert started.returncode == Exit.ROLLED_BACK == 3, started.stdout + started.stderr
    assert json.loads(started.stdout)["state"] == "rolled_back"
    assert rollsafe("rollout", "status").returncode == Exit.ROLLED_BACK

    # Rolling back by hand what is already rolled back: asked for and done, so 0.
    again = rollsafe("rollback", "--level", "1", "--json")
    assert again.returncode == Exit.OK, again.stdout + again.stderr
    assert json.loads(again.stdout)["state"] == "rolled_back"


def test_abort_rolls_back_a_rollout_no_controller_drives_and_exits_0(
    tmp_path: Path, rollsafe: Run, healthy_endpoint: str
) -> None:
    created = rollsafe("rollout", "start", str(write_plan(tmp_path, healthy_endpoint)), "--detach")
    assert created.returncode == Exit.OK, created.stdout + created.stderr
    listed = json.loads(rollsafe("rollout", "list", "--json").stdout)
    rollout_id = listed[0]["id"]
    pending = rollsafe("rollout", "status", rollout_id)
    assert pending.returncode == Exit.PAUSED == 4  # not ended: waiting for a controller

    aborted = rollsafe("rollout", "abort", rollout_id)
    assert aborted.returncode == Exit.OK, aborted.stdout + aborted.stderr
    assert f"{rollout_id}: aborted" in aborted.stdout
    assert rollsafe("rollout", "status", rollout_id).returncode == Exit.ROLLED_BACK


def test_bad_usage_exits_2_and_a_missing_rollout_1(rollsafe: Run, tmp_path: Path) -> None:
    assert rollsafe("rollout", "status", "--colour").returncode == Exit.USAGE == 2
    assert rollsafe("rollout", "start", str(write_plan(tmp_path, "ftp://x"))).returncode == 2
    assert rollsafe("flags", "set", "checkout", "--off").returncode == 0  # creates the home
    missing = rollsafe("rollout", "status", "ro-nope")
    assert missing.returncode == Exit.ERROR == 1, missing.stdout + missing.stderr


@pytest.mark.parametrize(
    ("state", "driven", "asked_to_roll_back"),
    [
        (RolloutState.PROMOTED, 0, 0),
        (RolloutState.ROLLED_BACK, 3, 0),
        (RolloutState.ABORTED, 3, 0),
        (RolloutState.PAUSED, 4, 4),
        (RolloutState.RUNNING, 4, 4),
        (RolloutState.ROLLING_BACK, 4, 4),
        (RolloutState.FAILED, 5, 5),
    ],
)
def test_one_code_per_outcome(state: RolloutState, driven: int, asked_to_roll_back: int) -> None:
    assert (of_rollout(state), of_rollback(state)) == (driven, asked_to_roll_back)


def test_the_demo_exits_as_its_rollout_ended() -> None:
    outcomes = ("promoted", "rolled_back", "failed")
    assert [of_demo(outcome) for outcome in outcomes] == [0, 3, 5]
