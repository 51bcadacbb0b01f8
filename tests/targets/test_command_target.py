"""The command target deploys a git checkout of the sample service under a real supervisord.

The runbooks' ``git checkout TAG && supervisorctl restart``, run as argv lists
by rollsafe: each test builds a repository with tagged releases in tmp, and the
supervisord fixture serves its checkout on a loopback port.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from rollsafe.config import HealthCheck, parse_document
from rollsafe.config.command_target import CommandTarget as CommandTargetConfig
from rollsafe.errors import HealthCheckError, PlanError, TargetError
from rollsafe.targets import (
    CommandError,
    CommandHealthError,
    CommandResult,
    CommandTarget,
)
from rollsafe.targets.execute import OUTPUT_LIMIT, run_command
from tests.targets.command.fixtures import Supervisor, git, make_repo, running

pytestmark = pytest.mark.slow  # starts real service processes

RELEASES = {"1.0.0": True, "1.1.0": True, "1.2.0": False}  # 1.2.0 answers 503 on /health
CHECKOUT = ["git", "-C", "{cwd}", "checkout", "--quiet", "v{release}"]
FAST_HEALTH = HealthCheck(timeout=1.0, interval=0.05, retries=60)

MakeTarget = Callable[..., CommandTarget]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_repo(tmp_path_factory.mktemp("repo") / "shop", RELEASES)
    git(repo, "checkout", "--quiet", "v1.0.0")
    return repo


@pytest.fixture(scope="module")
def supervisor(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Supervisor]:
    """One supervisord for the module (it takes a second to start and to stop); every test
    starts from an empty state directory, so its first deploy runs the commands."""
    supervisor = Supervisor(repo, tmp_path_factory.mktemp("supervisor"))
    try:
        supervisor.wait_serving()
        yield supervisor
    finally:
        left = supervisor.stop()
    assert left == [], f"processes left running: {left}"


@pytest.fixture
def make_target(repo: Path, tmp_path: Path) -> MakeTarget:
    def make(supervisor: Supervisor | None = None, **overrides: Any) -> CommandTarget:
        restart = supervisor.ctl("restart", "app") if supervisor else ["true"]
        fields: dict[str, Any] = {
            "deploy": [CHECKOUT, restart],
            "endpoints": [supervisor.url if supervisor else "http://127.0.0.1:9"],
            "health": FAST_HEALTH,
            "cwd": repo,
            "state_dir": tmp_path / "state",
            "timeout": 20.0,
        }
        fields.update(overrides)
        return CommandTarget(CommandTargetConfig(**fields), service="shop")

    return make


# -- deploy, no-op, rollback ------------------------------------------------------------------


def test_deploy_checks_out_the_tag_and_restarts_the_service(
    make_target: MakeTarget, supervisor: Supervisor
) -> None:
    journaled: list[CommandResult] = []
    target = make_target(supervisor)
    target.on_result = journaled.append

    assert target.deploy("1.0.0") is True
    old_pid = supervisor.note_app()
    assert target.deploy("1.1.0") is True

    assert supervisor.version() == "1.1.0"
    assert supervisor.note_app() != old_pid
    assert (target.current_release(), target.previous_release()) == ("1.1.0", "1.0.0")
    assert target.status() == "live"
    assert [result.argv for result in target.last_results] == [
        ("git", "-C", str(target.cwd), "checkout", "--quiet", "v1.1.0"),
        tuple(supervisor.ctl("restart", "app")),
    ]
    assert [result.to_dict()["step"] for result in journaled] == ["deploy"] * 4
    assert all(result.to_dict()["exit_code"] == 0 for result in journaled)
    assert "app: started" in journaled[-1].stdout
    assert target.check_health().healthy


def test_deploying_the_live_release_again_does_nothing(
    make_target: MakeTarget, supervisor: Supervisor
) -> None:
    target = make_target(supervisor)
    target.deploy("1.1.0")
    pid = supervisor.note_app()

    assert target.deploy("1.1.0") is False
    assert target.last_results == ()
    assert supervisor.note_app() == pid


def test_going_back_runs_the_rollback_steps(
    make_target: MakeTarget, supervisor: Supervisor, repo: Path
) -> None:
    mark = ["git", "-C", "{cwd}", "tag", "--force", "left-{previous}-for-{release}"]
    target = make_target(supervisor, rollback=[mark, CHECKOUT, supervisor.ctl("restart", "app")])
    target.deploy("1.0.0")
    target.deploy("1.1.0")

    assert target.rollback() is True

    assert supervisor.version() == "1.0.0"
    assert git(repo, "tag", "--list", "left-*") == "left-1.1.0-for-1.0.0"
    assert {result.step for result in target.last_results} == {"rollback"}
    assert (target.current_release(), target.previous_release()) == ("1.0.0", "1.1.0")


def test_an_unhealthy_release_raises_and_going_back_defaults_to_the_deploy_steps(
    make_target: MakeTarget, supervisor: Supervisor
) -> None:
    # 60 checks, as FAST_HEALTH: with 20 the healthy 1.1.0 had about a second to listen
    # again after its restart; a cold interpreter on a busy two-core machine took 0.4-0.7 s.
    target = make_target(supervisor, health=HealthCheck(timeout=0.5, interval=0.05, retries=60))
    target.deploy("1.1.0")

    with pytest.raises(HealthCheckError) as caught:
        target.deploy("1.2.0")

    assert isinstance(caught.value, CommandHealthError)
    assert f"{supervisor.url}: not healthy after 60 checks" in str(caught.value)
    assert "HTTP 503: broken on purpose" in str(caught.value)
    assert [result.ok for result in caught.value.results] == [True, True]
    assert (target.current_release(), target.status()) == ("1.2.0", "failed")

    assert target.deploy("1.1.0") is True
    assert supervisor.version() == "1.1.0"
    assert [(result.step, result.argv[-1]) for result in target.last_results] == [
        ("rollback", "v1.1.0"),
        ("rollback", "app"),
    ]
    assert (target.current_release(), target.previous_release()) == ("1.1.0", "1.2.0")


def test_stop_then_start_brings_the_release_back(
    make_target: MakeTarget, supervisor: Supervisor
) -> None:
    target = make_target(supervisor, stop=[supervisor.ctl("stop", "app")])
    target.deploy("1.1.0")

    target.stop()

    assert target.status() == "stopped"
    report = target.check_health()
    assert not report.healthy
    assert report.reasons == [
        f"instance 0 (1.1.0, pid 0, {supervisor.url}): GET /health: connection refused"
    ]
    target.start()
    assert supervisor.version() == "1.1.0"
    assert target.status() == "live"


# -- failing and hanging commands -------------------------------------------------------------


def test_a_failing_command_raises_with_its_output_and_stops_the_deploy(
    make_target: MakeTarget, tmp_path: Path
) -> None:
    second = tmp_path / "second-step-ran"
    target = make_target(deploy=[CHECKOUT, ["touch", str(second)]])

    with pytest.raises(TargetError) as caught:
        target.deploy("9.9.9")

    error = caught.value
    assert isinstance(error, CommandError)
    assert error.result.exit_code == 1
    assert "pathspec 'v9.9.9' did not match" in error.result.stderr
    assert "deploy step 1 of 2, `git -C" in str(error)
    assert "checkout --quiet v9.9.9`, exited with code 1" in str(error)
    assert "did not match" in str(error)
    assert not second.exists()
    assert (target.current_release(), target.status()) == ("9.9.9", "failed")


def test_a_hanging_command_is_killed_with_its_children_at_the_timeout(
    make_target: MakeTarget,
) -> None:
    hang = "import os, subprocess, time; child = subprocess.Popen(['sleep', '60']);"
    hang += " print(os.getpid(), child.pid, flush=True); time.sleep(60)"
    target = make_target(deploy=[["{python}", "-c", hang]], timeout="500ms")

    started = time.monotonic()
    with pytest.raises(CommandError) as caught:
        target.deploy("1.1.0")

    result = caught.value.result
    assert result.timed_out
    # Killed at its 0.5 s timeout, not after the 60 s it would sleep; the upper bounds
    # leave a busy machine room to start the interpreter and reap the group.
    assert 0.5 <= result.duration < 10.0
    assert time.monotonic() - started < 15.0
    # The message gives the measured duration: 0.5s, or a little more on a loaded machine.
    assert re.search(r"timed out after (0\.[5-9]|\d+\.\d)s and was killed", str(caught.value))
    pids = [int(pid) for pid in result.stdout.split()]
    assert len(pids) == 2
    assert not any(running(pid) for pid in pids)


def test_a_command_left_running_by_a_dead_controller_is_stopped_by_the_next(
    make_target: MakeTarget, tmp_path: Path
) -> None:
    pid_file = tmp_path / "hanging.pid"
    hang = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    dead = make_target(deploy=[["{python}", "-c", hang]])
    script = (
        "import sys\n"
        "from rollsafe.config.command_target import CommandTarget as C\n"
        "from rollsafe.targets import CommandTarget\n"
        "CommandTarget(C.model_validate_json(sys.argv[1]), service='shop').deploy('1.1.0')\n"
    )
    controller = subprocess.Popen([sys.executable, "-c", script, dead.config.model_dump_json()])
    try:
        state = dead.state_dir / "state.json"
        deadline = time.monotonic() + 10
        while not (
            pid_file.exists() and state.exists() and json.loads(state.read_text())["running"]
        ):
            assert time.monotonic() < deadline, "the command never started"
            time.sleep(0.02)
        hanging = int(pid_file.read_text())
    finally:
        controller.send_signal(signal.SIGKILL)
        controller.wait()
    assert running(hanging)

    survivor = make_target(stop=[["true"]])
    assert survivor.status() == "deploying"
    survivor.stop()
    assert not running(hanging)
    assert survivor.status() == "stopped"


# -- output, placeholders ---------------------------------------------------------------------


def test_output_keeps_only_its_end(tmp_path: Path) -> None:
    chatty = "import sys; sys.stdout.write('x' * 200_000 + 'END'); sys.stderr.write('e')"
    result = run_command(
        [sys.executable, "-c", chatty], step="deploy", cwd=tmp_path, env=os.environ, timeout=10
    )

    assert result.ok
    assert len(result.stdout) == OUTPUT_LIMIT
    assert result.stdout.endswith("xEND")
    assert result.truncated
    assert result.stderr == "e"
    assert json.loads(json.dumps(result.to_dict()))["truncated"] is True


def test_a_program_that_does_not_exist_fails_clearly(tmp_path: Path) -> None:
    result = run_command(
        ["no-such-program-rollsafe"], step="deploy", cwd=tmp_path, env=os.environ, timeout=10
    )

    assert not result.ok
    assert result.exit_code is None
    assert result.describe().startswith("could not start: [Errno 2] No such file or directory")


PLAN = """\
type: command
cwd: /srv/shop
state_dir: /var/lib/rollsafe/shop
deploy:
  - [git, -C, "{cwd}", checkout, "v{release}"]
  - [supervisorctl, restart, "{servce}"]
endpoints: ["http://127.0.0.1:8000"]
"""


def test_an_unknown_placeholder_is_a_config_error_naming_the_argument() -> None:
    with pytest.raises(PlanError) as caught:
        parse_document(PLAN, CommandTargetConfig, source="plan.yaml")

    assert caught.value.problems == [
        "plan.yaml:6: deploy[1][2]: unknown placeholder {servce} in '{servce}'; known: "
        "{release}, {previous}, {cwd}, {state_dir}, {service}, {python}"
    ]


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("{release.__class__}", "is not a plain placeholder"),
        ("{0}", "is not a plain placeholder"),
        ("{release!r}", "is not a plain placeholder"),
        ("v{release", "expected '}' before end of string"),
    ],
)
def test_only_plain_placeholders_are_allowed(argument: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CommandTargetConfig(
            deploy=[["echo", argument]], endpoints=["http://x"], cwd=Path(), state_dir=Path()
        )


def test_literal_braces_and_one_argv_as_a_single_step(make_target: MakeTarget) -> None:
    target = make_target(
        deploy=["{python}", "-c", "print('{{}}', '{release}')"],
        health=HealthCheck(timeout=0.2, interval=0.01, retries=1),
    )

    with pytest.raises(HealthCheckError):  # nothing listens on port 9
        target.deploy("1.1.0")

    assert target.last_results[0].stdout == "{} 1.1.0\n"
