from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rollsafe.config import HealthCheck
from rollsafe.config import ProcessTarget as ProcessTargetConfig
from rollsafe.support.http import http_client
from rollsafe.targets import ProcessTarget
from rollsafe.targets.procs import marked, stop_groups

SERVICE = Path(__file__).with_name("service.py")
COMMAND = ["{python}", str(SERVICE), "--port", "{port}", "--release", "{release}"]
COMMAND += ["--instance", "{instance}"]

MakeTarget = Callable[..., ProcessTarget]
MakeRelease = Callable[..., Path]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def make_config(root: Path, **overrides: Any) -> ProcessTargetConfig:
    fields: dict[str, Any] = {
        "root": root,
        "instances": 2,
        "command": COMMAND,
        "health": HealthCheck(timeout=1.0, interval=0.05, retries=60),
        "stop_timeout": 2.0,
    }
    fields.update(overrides)
    return ProcessTargetConfig(**fields)


@pytest.fixture
def make_target(root: Path, home: Path) -> Iterator[MakeTarget]:
    """ProcessTargets on ``root``; every process they started is stopped afterwards."""
    made: list[ProcessTarget] = []

    def make(**overrides: Any) -> ProcessTarget:
        target = ProcessTarget(make_config(root, **overrides), service="svc", home=home)
        made.append(target)
        return target

    yield make
    for target in made:
        target.stop()
    leftovers = marked(root.absolute())
    stop_groups(set(leftovers.values()), 1.0)  # never leave a process behind, even on a bug
    assert not leftovers, f"processes left running: {leftovers}"


@pytest.fixture
def make_release(root: Path) -> MakeRelease:
    """``make_release("v2", "crash", **{"startup-delay": "2"})`` makes a release directory."""

    def make(version: str, *flags: str, **files: str) -> Path:
        directory = root / "releases" / version
        directory.mkdir(parents=True, exist_ok=True)
        for name in flags:
            (directory / name).write_text("")
        for name, content in files.items():
            (directory / name).write_text(content)
        return directory

    return make


def running(pid: int) -> bool:
    """True if ``pid`` is a live process (a zombie is not: it no longer runs)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def pids_in(directory: Path) -> list[int]:
    """Live processes whose working directory is ``directory`` (a release's instances)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                cwd = os.readlink(f"/proc/{name}/cwd")
            except OSError:
                continue
            if Path(cwd) == directory.resolve() and running(int(name)):
                found.append(int(name))
    return found


def get(url: str) -> httpx.Response:
    with http_client(timeout=2.0, trust_env=False) as client:
        return client.get(url)


def versions(target: ProcessTarget) -> list[str]:
    return [get(url + "/version").text for url in target.endpoints()]
