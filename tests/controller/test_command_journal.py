"""Each command a command target runs is journaled as it finishes, in steps and in
rollbacks (issue 11: `CommandTarget.on_result` was documented "for the journal" and
never connected, so the journal said nothing of what ran on the host)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollsafe.controller import Controller
from rollsafe.controller.commands import COMMAND_EVENT, JOURNALED_OUTPUT
from rollsafe.journal import JournalEntry
from rollsafe.store import RolloutState, Store, open_store_url
from tests.endpoints import healthy_server

pytestmark = pytest.mark.slow

# The deploy of 2.0.0 fails; rolling back to the release before runs the rollback steps.
PLAN = """\
version: 1
service: vm
target:
  type: command
  deploy:
    - ["sh", "-c", "echo deploying $ROLLSAFE_RELEASE"]
    - ["sh", "-c", "head -c 20000 /dev/zero | tr '\\\\0' x; echo; echo build-done; \
test $ROLLSAFE_RELEASE != 2.0.0"]
  rollback: [["sh", "-c", "echo back to $ROLLSAFE_RELEASE >&2"]]
  verify: [["true"]]
  endpoints: ["{endpoint}"]
  health: {{timeout: 500ms, interval: 100ms, retries: 2}}
  cwd: .
  state_dir: {state}
rollback:
  levels: [release]
  verify: {{for: 1s, interval: 200ms}}
steps:
  - deploy: {{release: {release}}}
  - promote:
"""


@pytest.fixture
def endpoint() -> Iterator[str]:
    with healthy_server() as url:
        yield url


def _roll_out(tmp_path: Path, store: Store, endpoint: str, release: str) -> list[JournalEntry]:
    plan = tmp_path / f"plan-{release}.yaml"
    plan.write_text(PLAN.format(endpoint=endpoint, state=tmp_path / "state", release=release))
    controller = Controller(store, tmp_path / "home")
    rollout_id = controller.create(plan, actor="test").id
    controller.run(rollout_id)
    return store.journal(rollout_id)


def _commands(entries: list[JournalEntry]) -> list[tuple[str, str, int | None]]:
    return [
        (e.data["step"], e.data["argv"][-1][:20], e.data["exit_code"])
        for e in entries
        if e.kind == COMMAND_EVENT
    ]


def test_a_deploy_step_journals_each_command_it_ran(tmp_path: Path, endpoint: str) -> None:
    store = open_store_url(tmp_path / "rollsafe.db")
    entries = _roll_out(tmp_path, store, endpoint, "1.0.0")
    kinds = [e.kind for e in entries]
    assert store.get_rollout(entries[0].rollout_id or "").state is RolloutState.PROMOTED

    assert _commands(entries) == [
        ("deploy", "echo deploying $ROLL", 0),
        ("deploy", "head -c 20000 /dev/z", 0),
        ("verify", "true", 0),
    ]
    commands = [e for e in entries if e.kind == COMMAND_EVENT]
    # Journaled during the deploy step, as each ended: after it started, before it ended.
    started, succeeded = kinds.index("step.running"), kinds.index("step.succeeded")
    assert all(started < entries.index(e) < succeeded for e in commands)
    assert commands[0].data["stdout"] == "deploying 1.0.0\n"
    assert commands[0].data["outcome"] == "exited with code 0"
    assert commands[0].data["duration"] >= 0
    chatty = commands[1].data
    assert len(chatty["stdout"]) == JOURNALED_OUTPUT  # the end of 20 kB of output
    assert chatty["stdout"].endswith("x\nbuild-done\n")
    assert chatty["truncated"] is True
    assert store.verify_journal().ok
    store.close()


def test_a_rollback_journals_the_commands_that_failed_and_those_that_undid_it(
    tmp_path: Path, endpoint: str
) -> None:
    store = open_store_url(tmp_path / "rollsafe.db")
    _roll_out(tmp_path, store, endpoint, "1.0.0")
    entries = _roll_out(tmp_path, store, endpoint, "2.0.0")
    assert store.get_rollout(entries[0].rollout_id or "").state is RolloutState.ROLLED_BACK

    assert _commands(entries) == [
        ("deploy", "echo deploying $ROLL", 0),
        ("deploy", "head -c 20000 /dev/z", 1),
        ("rollback", "echo back to $ROLLSA", 0),
        ("verify", "true", 0),
    ]
    kinds = [e.kind for e in entries]
    undo = [e for e in entries if e.kind == COMMAND_EVENT and e.data["step"] == "rollback"]
    assert entries.index(undo[0]) > kinds.index("rollback.started")
    assert undo[0].data["stderr"] == "back to 1.0.0\n"
    failed = next(e for e in entries if e.kind == COMMAND_EVENT and e.data["exit_code"] == 1)
    assert failed.data["outcome"] == "exited with code 1"
    assert failed.data["stdout"].endswith("build-done\n")
    store.close()


def test_rollout_start_shows_each_command_as_it_ends(tmp_path: Path, endpoint: str) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.format(endpoint=endpoint, state=tmp_path / "state", release="1.0.0"))
    started = subprocess.run(
        [sys.executable, "-m", "rollsafe", "--home", str(tmp_path / "home"),
         "rollout", "start", str(plan)],
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "300"},
    )  # fmt: skip
    assert started.returncode == 0, started.stdout + started.stderr
    assert "$ sh -c 'echo deploying $ROLLSAFE_RELEASE': exited with code 0" in started.stdout
    assert "$ true: exited with code 0" in started.stdout
    assert "xxxx" not in started.stdout  # the output stays in the journal
