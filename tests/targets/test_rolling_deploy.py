"""Deploys replace instances one slot at a time, survive failures and controller crashes."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from rollsafe.errors import HealthCheckError, TargetError
from tests.targets.conftest import (
    MakeRelease,
    MakeTarget,
    make_config,
    pids_in,
    running,
    versions,
)

pytestmark = pytest.mark.slow  # starts real service processes

# Healthy releases deploy under it too: 8 checks 50 ms apart gave a starting instance
# about 0.5 s, while a cold interpreter took 0.35-0.65 s to listen at load 19 on two
# cores. 12 checks 200 ms apart give it 2.4 s and keep the sick instance's log short
# enough for its start line to stay in the 20-line tail the error quotes.
QUICK_FAIL = {"timeout": 1.0, "interval": 0.2, "retries": 12}


def test_deploy_replaces_instances_one_at_a_time_and_never_leaves_none_live(
    make_target: MakeTarget, make_release: MakeRelease
) -> None:
    make_release("v1")
    make_release("v2")
    target = make_target()
    target.deploy("v1")
    old = target.instances()
    samples: list[tuple[int, list[str]]] = []
    failures: list[BaseException] = []
    done = threading.Event()
    sampled = threading.Event()

    def watch() -> None:
        try:
            with httpx.Client(timeout=2.0, trust_env=False) as client:
                while not done.is_set():
                    answers = []
                    urls = target.endpoints()
                    for url in urls:
                        # an instance may be stopped just after we listed it
                        with contextlib.suppress(httpx.HTTPError):
                            answers.append(client.get(url + "/version").text)
                    samples.append((len(urls), answers))
                    sampled.set()
        except BaseException as exc:
            failures.append(exc)
            sampled.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    # The first sample is taken before the deploy starts: a watcher thread starved of CPU
    # for its first turn otherwise saw a slot already replaced (["v1", "v2"]).
    assert sampled.wait(timeout=30)
    try:
        assert target.deploy("v2") is True
    finally:
        done.set()
        watcher.join()

    assert not failures
    assert len(samples) > 10
    assert all(count == 2 for count, _ in samples)  # always two instances in the live set
    assert all(answers for _, answers in samples)  # and always one answering
    assert samples[0][1] == ["v1", "v1"]
    assert any(sorted(answers) == ["v1", "v2"] for _, answers in samples)  # one slot at a time
    assert versions(target) == ["v2", "v2"]
    assert (target.current_release(), target.previous_release()) == ("v2", "v1")
    assert not [i.pid for i in old if running(i.pid)]


def test_deploy_back_to_the_previous_release_swaps_current_and_previous(
    make_target: MakeTarget, make_release: MakeRelease
) -> None:
    make_release("v1")
    make_release("v2")
    target = make_target(instances=1)
    target.deploy("v1")
    target.deploy("v2")

    assert target.deploy("v1") is True

    assert (target.current_release(), target.previous_release()) == ("v1", "v2")
    assert versions(target) == ["v1"]


def test_a_release_that_never_gets_healthy_is_rolled_back_and_the_old_one_keeps_serving(
    make_target: MakeTarget, make_release: MakeRelease
) -> None:
    make_release("v1")
    make_release("v2")
    bad = make_release("v3", "unhealthy-1")  # slot 0 comes up, slot 1 never does
    target = make_target(health=QUICK_FAIL)
    target.deploy("v1")
    target.deploy("v2")
    before = target.instances()

    with pytest.raises(HealthCheckError) as caught:
        target.deploy("v3")

    message = str(caught.value)
    assert "instance 1 of svc v3" in message
    assert "not healthy after 12 checks" in message
    assert "GET /health: HTTP 503: sick" in message
    assert "release v3 instance 1 on port" in message  # the tail of its log
    assert "`current` names v2 again, and v2 is serving" in message
    assert (target.current_release(), target.previous_release()) == ("v2", "v1")
    after = target.instances()
    assert [(i.index, i.release) for i in after] == [(0, "v2"), (1, "v2")]
    assert after[1] == before[1]  # slot 1 was never touched
    assert versions(target) == ["v2", "v2"]
    assert pids_in(bad) == []  # nothing of v3 runs


def test_a_release_that_crashes_at_start_fails_fast_with_its_log(
    make_target: MakeTarget, make_release: MakeRelease
) -> None:
    make_release("v1")
    crashing = make_release("v2", "crash")
    target = make_target()
    target.deploy("v1")
    before = target.instances()

    started = time.monotonic()
    with pytest.raises(HealthCheckError) as caught:
        target.deploy("v2")

    assert time.monotonic() - started < 5
    assert "process exited with code 3 before it became healthy" in str(caught.value)
    assert "boom: crash file present" in str(caught.value)
    assert target.current_release() == "v1"
    assert target.previous_release() is None
    assert target.instances() == before
    assert pids_in(crashing) == []


def test_a_failed_first_deploy_leaves_nothing_current_and_nothing_running(
    make_target: MakeTarget, make_release: MakeRelease, root: Path
) -> None:
    bad = make_release("v1", "unhealthy")
    target = make_target(health=QUICK_FAIL)

    with pytest.raises(HealthCheckError, match="nothing was live before"):
        target.deploy("v1")

    assert target.current_release() is None
    assert not (root / "current").is_symlink()
    assert target.instances() == []
    assert pids_in(bad) == []


def test_a_command_that_cannot_start_is_a_target_error(
    make_target: MakeTarget, make_release: MakeRelease
) -> None:
    make_release("v1")
    target = make_target(command=["/nonexistent/service", "--port", "{port}"])

    with pytest.raises(TargetError, match="cannot start '/nonexistent/service'"):
        target.deploy("v1")

    assert target.current_release() is None


CONTROLLER = """
import sys
from pathlib import Path
from rollsafe.config import ProcessTarget as Config
from rollsafe.targets import ProcessTarget
config = Config.model_validate_json(sys.argv[1])
ProcessTarget(config, service="svc", home=Path(sys.argv[2])).deploy(sys.argv[3])
"""


def controller(config_json: str, home: Path, release: str) -> subprocess.Popen[bytes]:
    """A separate controller process running ``deploy(release)``."""
    return subprocess.Popen([sys.executable, "-c", CONTROLLER, config_json, str(home), release])


@pytest.mark.parametrize("again", ["deploy", "start"])
def test_a_controller_killed_mid_deploy_leaves_the_service_up_and_a_rerun_converges(
    again: str, make_target: MakeTarget, make_release: MakeRelease, root: Path, home: Path
) -> None:
    make_release("v1")
    slow = make_release("v2", **{"startup-delay": "30"})
    config_json = make_config(root).model_dump_json()
    first = controller(config_json, home, "v1")
    assert first.wait(timeout=30) == 0  # instances outlive the controller that started them
    target = make_target()
    old = target.instances()
    assert versions(target) == ["v1", "v1"]

    second = controller(config_json, home, "v2")
    state = root / "run" / "instances.json"
    deadline = time.monotonic() + 10
    while '"starting"' not in state.read_text():
        assert time.monotonic() < deadline, "the controller never started a v2 instance"
        time.sleep(0.02)
    second.send_signal(signal.SIGKILL)
    second.wait()

    assert target.current_release() == "v2"  # the desired state was written first
    assert target.instances() == old  # the half-started instance takes no traffic
    assert versions(target) == ["v1", "v1"]
    stranded = [e["pid"] for e in json.loads(state.read_text())["instances"]]
    stranded = [pid for pid in stranded if pid not in {i.pid for i in old}]
    assert len(stranded) == 1
    assert running(stranded[0])

    (slow / "startup-delay").unlink()
    if again == "deploy":
        assert target.deploy("v2") is True
    else:
        target.start()

    assert versions(target) == ["v2", "v2"]
    assert not running(stranded[0])
    assert not [i.pid for i in old if running(i.pid)]
    assert len(pids_in(slow)) == 2
