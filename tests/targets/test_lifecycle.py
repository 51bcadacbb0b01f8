"""Start, stop, restart and observe instances of a release as real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rollsafe.errors import HealthCheckError, TargetError
from tests.targets.conftest import MakeRelease, MakeTarget, get, pids_in, running, versions

pytestmark = pytest.mark.slow  # starts real service processes


def wait_until(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not callable(condition) or not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_deploy_starts_n_instances_that_answer_on_their_own_ports(
    make_target: MakeTarget, make_release: MakeRelease, root: Path, home: Path
) -> None:
    make_release("v1")
    target = make_target(instances=3)

    assert target.deploy("v1") is True

    instances = target.instances()
    assert [i.index for i in instances] == [0, 1, 2]
    assert len({i.port for i in instances}) == 3
    assert all(i.release == "v1" and running(i.pid) for i in instances)
    assert target.endpoints() == [f"http://127.0.0.1:{i.port}" for i in instances]
    assert versions(target) == ["v1", "v1", "v1"]
    assert target.current_release() == "v1"
    assert os.readlink(root / "current") == "releases/v1"  # a relative link
    assert target.previous_release() is None
    state = json.loads((root / "run" / "instances.json").read_text())
    assert {item["pid"] for item in state["instances"]} == {i.pid for i in instances}
    assert all(item["status"] == "ready" and item["start_ticks"] > 0 for item in state["instances"])


def test_instance_output_is_appended_to_a_log_per_release_and_slot(
    make_target: MakeTarget, make_release: MakeRelease, home: Path
) -> None:
    make_release("v1")
    target = make_target(instances=1)
    target.deploy("v1")
    get(target.endpoints()[0] + "/version")
    log = home / "logs" / "svc" / "v1-0.log"

    wait_until(lambda: "GET /version" in log.read_text())
    text = log.read_text()
    assert "instance 0 of svc v1 on port" in text  # rollsafe's header line
    assert "release v1 instance 0 on port" in text  # the service's own stderr

    target.restart()
    assert log.read_text().count("--- rollsafe") == 2  # appended, not truncated


def test_command_placeholders_env_and_working_directory(
    make_target: MakeTarget, make_release: MakeRelease, root: Path, home: Path
) -> None:
    release_dir = make_release("v1")
    target = make_target(
        instances=1,
        command=[
            "{python}",
            str(Path(__file__).with_name("service.py")),
            "--port={port}",
            "--release",
            "{release}",
            "--extra",
            "{release_dir}|{root}|{home}|{instance}",
        ],
        env={"GREETING": "hello from {release} slot {instance}"},
    )
    target.deploy("v1")

    info = get(target.endpoints()[0] + "/info").json()
    paths = f"{release_dir.absolute()}|{root.absolute()}|{home.absolute()}"
    assert info["extra"] == f"{paths}|0"  # an unknown placeholder is refused at load
    assert info["greeting"] == "hello from v1 slot 0"
    assert Path(info["cwd"]) == release_dir.resolve()
    assert info["marker"] == str(root.absolute())


def test_deploying_the_live_release_again_is_a_no_op(
    make_target: MakeTarget, make_release: MakeRelease
) -> None:
    make_release("v1")
    target = make_target()
    target.deploy("v1")
    before = target.instances()

    assert target.deploy("v1") is False
    target.start()

    assert target.instances() == before


def test_unknown_release_is_refused_and_changes_nothing(
    make_target: MakeTarget, make_release: MakeRelease
) -> None:
    make_release("v1")
    make_release("v2")
    target = make_target()
    target.deploy("v1")
    before = target.instances()

    with pytest.raises(TargetError, match=r"unknown release 'v9'; releases: v1, v2"):
        target.deploy("v9")

    assert target.current_release() == "v1"
    assert target.previous_release() is None
    assert target.instances() == before


def test_unknown_release_on_an_empty_root_names_where_it_looked(make_target: MakeTarget) -> None:
    target = make_target()
    with pytest.raises(TargetError, match=r"unknown release 'v1'; releases: none"):
        target.deploy("v1")
    with pytest.raises(TargetError, match="no release is current"):
        target.start()
    assert target.releases() == []
    assert target.instances() == []


def test_stop_kills_every_process_of_the_group_also_one_ignoring_sigterm(
    make_target: MakeTarget, make_release: MakeRelease, root: Path
) -> None:
    make_release("v1", "ignore-sigterm", "spawn-child")
    target = make_target(stop_timeout=0.3)
    target.deploy("v1")
    infos = [get(url + "/info").json() for url in target.endpoints()]
    pids = [info["pid"] for info in infos] + [info["child"] for info in infos]
    assert all(running(pid) for pid in pids)

    started = time.monotonic()
    target.stop()

    assert time.monotonic() - started >= 0.3  # SIGTERM was ignored; SIGKILL after stop_timeout
    assert [pid for pid in pids if running(pid)] == []
    assert target.instances() == []
    assert json.loads((root / "run" / "instances.json").read_text())["instances"] == []
    assert target.current_release() == "v1"  # stopping is not undeploying
    target.stop()  # idempotent


def test_a_new_target_object_sees_and_controls_instances_another_started(
    make_target: MakeTarget, make_release: MakeRelease
) -> None:
    make_release("v1")
    first = make_target()
    first.deploy("v1")

    second = make_target()  # what a new controller process builds from the same plan

    assert second.instances() == first.instances()
    assert second.deploy("v1") is False
    pids = [i.pid for i in first.instances()]
    second.stop()
    assert first.instances() == []
    assert [pid for pid in pids if running(pid)] == []


def test_a_killed_instance_is_seen_as_dead_and_start_replaces_it(
    make_target: MakeTarget, make_release: MakeRelease
) -> None:
    make_release("v1")
    target = make_target()
    target.deploy("v1")
    survivor, victim = target.instances()

    os.kill(victim.pid, signal.SIGKILL)
    wait_until(lambda: len(target.instances()) == 1)

    assert target.instances() == [survivor]
    report = target.check_health()
    assert not report.healthy
    assert "1 of 2 instances are running" in report.reasons

    target.start()

    survivor_again, replacement = target.instances()
    assert survivor_again == survivor
    assert replacement.index == victim.index
    assert replacement.pid != victim.pid
    assert versions(target) == ["v1", "v1"]
    assert target.check_health().healthy


def test_a_reused_pid_is_not_mistaken_for_an_instance(
    make_target: MakeTarget, make_release: MakeRelease, root: Path
) -> None:
    make_release("v1")
    target = make_target()
    stranger = subprocess.Popen(["sleep", "30"])  # noqa: S607
    try:
        entry = {
            "index": 0,
            "pid": stranger.pid,
            "port": 1,
            "release": "v1",
            "started_at": 0.0,
            "start_ticks": 1,  # not when `sleep` started: the pid was reused
            "status": "ready",
        }
        (root / "run").mkdir(parents=True)
        (root / "run" / "instances.json").write_text(
            json.dumps({"format": 1, "instances": [entry]})
        )

        assert target.instances() == []
        target.stop()
        assert running(stranger.pid)
    finally:
        stranger.kill()
        stranger.wait()


def test_restart_replaces_every_instance_with_the_same_release(
    make_target: MakeTarget, make_release: MakeRelease
) -> None:
    make_release("v1")
    target = make_target()
    target.deploy("v1")
    before = target.instances()

    target.restart()

    after = target.instances()
    assert [i.index for i in after] == [0, 1]
    assert not {i.pid for i in before} & {i.pid for i in after}
    assert not [i.pid for i in before if running(i.pid)]
    assert versions(target) == ["v1", "v1"]


def test_start_scales_down_to_the_configured_number(
    make_target: MakeTarget, make_release: MakeRelease
) -> None:
    make_release("v1")
    make_target(instances=3).deploy("v1")
    target = make_target(instances=1)
    extra = [i.pid for i in target.instances() if i.index > 0]

    target.start()

    assert [i.index for i in target.instances()] == [0]
    assert [pid for pid in extra if running(pid)] == []


def test_an_unhealthy_instance_is_reported_and_keeps_serving_if_its_replacement_fails(
    make_target: MakeTarget, make_release: MakeRelease
) -> None:
    release = make_release("v1")
    # 15 checks 0.2 s apart: the sick replacement still fails in 3 s, and a cold interpreter
    # starved of CPU gets 3 s to listen (5 checks 0.05 s apart, 0.25 s, failed the first
    # deploy under -n 4 on a loaded 2-core machine).
    target = make_target(health={"timeout": 1.0, "interval": 0.2, "retries": 15})
    target.deploy("v1")
    before = target.instances()
    assert target.check_health().healthy

    (release / "unhealthy-0").write_text("")
    report = target.check_health()

    assert not report.healthy
    assert report.healthy_count == 1
    assert [item.healthy for item in report.instances] == [False, True]
    assert report.instances[0].reason == "GET /health: HTTP 503: sick"
    with pytest.raises(HealthCheckError, match="instance 0 of svc v1"):
        target.start()
    assert target.instances() == before  # the replacement failed; the old instance stays
    assert len(pids_in(release)) == 2

    (release / "unhealthy-0").unlink()
    target.start()
    assert target.instances() == before
    assert target.check_health().healthy


def test_a_corrupt_state_file_is_reported_and_stop_still_finds_every_instance(
    make_target: MakeTarget, make_release: MakeRelease, root: Path
) -> None:
    make_release("v1")
    target = make_target()
    target.deploy("v1")
    pids = [i.pid for i in target.instances()]
    (root / "run" / "instances.json").write_text("{not json")

    with pytest.raises(TargetError, match=r"instances.json is corrupt"):
        target.instances()

    target.stop()  # finds the unrecorded processes by the ROLLSAFE_TARGET_ROOT they carry

    assert [pid for pid in pids if running(pid)] == []
    assert target.instances() == []
    target.start()
    assert versions(target) == ["v1", "v1"]
