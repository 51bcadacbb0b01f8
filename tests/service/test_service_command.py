"""``rollsafe service up|status|down|restart`` on the real shop behind nginx, through the CLI."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from rollsafe.routers.processes import children
from rollsafe.targets import procs
from tests.service.conftest import FrontDoorClient, Service

pytestmark = pytest.mark.slow

STEPS = "  - promote:\n"


def running(pid: int) -> bool:
    """Alive in /proc, not a zombie (the CLI that started it exited; init reaps it later)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def status(service: Service, plan: Path, command: str = "status") -> tuple[int, dict[str, Any]]:
    result = service.rollsafe("service", command, str(plan), "--json")
    assert result.stdout.startswith("{"), result.stdout + result.stderr
    return result.returncode, json.loads(result.stdout)


def test_up_status_down_leaves_nothing_running(service: Service) -> None:
    plan = service.plan(STEPS, router=True)
    code, before = status(service, plan)
    assert (code, before["state"], before["instances"]) == (3, "down", [])

    result = service.rollsafe("service", "up", str(plan), "--release", "1.0.0")
    assert result.returncode == 0, result.stdout + result.stderr
    front = service.router().url
    assert front in result.stdout  # the front address is printed, with instances and health
    assert "1.0.0: healthy" in result.stdout
    assert result.stdout.count("healthy") >= 3

    code, up = status(service, plan)
    assert code == 0, up
    assert up["state"] == "healthy"
    assert up["release"] == "1.0.0"
    assert up["front"]["url"] == front
    assert {i["release"] for i in up["instances"]} == {"1.0.0"}
    assert len(up["instances"]) == 2
    assert httpx.get(front + "/health", timeout=5).json()["release"] == "1.0.0"

    # A plan without router over the same instances finds the router all the same.
    bare = service.plan(STEPS, router=False)
    code, seen = status(service, bare)
    assert (code, seen["front"]["url"]) == (0, front)

    os.killpg(up["instances"][0]["pid"], signal.SIGKILL)
    code, hurt = status(service, plan)
    assert (code, hurt["state"]) == (1, "unhealthy"), hurt
    assert any("1 of 2 instances" in reason for reason in hurt["reasons"]), hurt["reasons"]

    master = int((service.router().home / "nginx.pid").read_text())
    pids = [master, *children(master), *(i["pid"] for i in up["instances"])]
    result = service.rollsafe("service", "down", str(bare))
    assert result.returncode == 0, result.stdout + result.stderr
    assert procs.marked(service.target.root) == {}
    assert [pid for pid in pids if running(pid)] == []
    code, after = status(service, plan)
    assert (code, after["state"], after["front"]["running"]) == (3, "down", False)

    # Forgotten, the router no longer fronts what a plan without router: runs.
    assert service.rollsafe("service", "down", str(bare), "--forget-router").returncode == 0
    assert service.store.get_router(str(service.target.root)) is None
    code, bare_after = status(service, bare)
    assert (code, bare_after["front"]) == (3, None)


def test_restart_replaces_every_instance_with_no_failed_request_through_the_front_door(
    service: Service,
) -> None:
    plan = service.plan(STEPS, router=True)
    result = service.rollsafe("service", "up", str(plan), "--release", "1.0.0")
    assert result.returncode == 0, result.stdout + result.stderr
    code, before = status(service, plan)
    assert code == 0, before

    # Four users in a loop, each request on a new connection (as nginx closes them).
    users = [FrontDoorClient(before["front"]["url"]) for _ in range(4)]
    with contextlib.ExitStack() as running_users:
        for user in users:
            running_users.enter_context(user)
        users[0].wait_for(20)
        code, after = status(service, plan, "restart")
        users[0].wait_for(20)
    assert code == 0, after
    assert after["front"]["url"] == before["front"]["url"]
    old = {i["pid"] for i in before["instances"]}
    assert old.isdisjoint(i["pid"] for i in after["instances"])
    statuses = sum((user.statuses() for user in users), Counter[int]())
    assert set(statuses) == {200}, statuses
    assert sum(statuses.values()) > 200


def test_refusals_say_why_and_start_nothing(service: Service, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nservice: shop\n")
    result = service.rollsafe("service", "up", str(bad))
    assert result.returncode == 2, result.stdout + result.stderr
    assert str(bad) in result.stderr

    command = tmp_path / "command.yaml"
    command.write_text(
        f"version: 1\nservice: vm\ntarget:\n  type: command\n  cwd: {tmp_path}\n"
        f"  state_dir: {tmp_path / 'state'}\n  deploy: [[/bin/true]]\n"
        '  endpoints: ["http://127.0.0.1:9"]\nsteps:\n  - promote:\n'
    )
    result = service.rollsafe("service", "status", str(command))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "process targets" in result.stderr

    # Nothing was ever deployed: up says to name a release, and starts nothing.
    result = service.rollsafe("service", "up", str(service.plan(STEPS, router=True)))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no release is current" in result.stderr
    assert service.target.instances() == []
    assert procs.marked(service.target.root) == {}
