"""Instances of a uvicorn service run by the process target, fronted by rollsafe's nginx,
moved the way a rollout moves them, while users send requests through nginx."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollsafe.config import HealthCheck, NginxRouter, ProcessTarget
from rollsafe.controller.traffic import Traffic
from rollsafe.routers import NginxRouter as Router
from rollsafe.targets import ProcessTarget as Target

SERVICE = Path(__file__).with_name("service.py")
RELEASES = ("1.0.0", "1.1.0")


@dataclass
class Rig:
    target: Target
    traffic: Traffic

    @property
    def url(self) -> str:
        return self.traffic.router.url


@contextmanager
def rig(home: Path, *, router: NginxRouter | None = None, instances: int = 2) -> Iterator[Rig]:
    """Two stable instances of 1.0.0 behind a running nginx; everything stopped at the end."""
    root = home / "root"
    for release in RELEASES:
        (root / "releases" / release).mkdir(parents=True, exist_ok=True)
    config = ProcessTarget(
        root=root,
        instances=instances,
        command=["{python}", str(SERVICE), "--port", "{port}", "--release", "{release}"],
        health=HealthCheck(timeout=1.0, interval=0.05, retries=200),
        stop_timeout=5.0,
    )
    target = Target(config, service="shop", home=home)
    nginx = Router(router or NginxRouter(), home=home / "router")
    traffic = Traffic(nginx, target)
    try:
        target.deploy(RELEASES[0])
        yield Rig(target, traffic)
    finally:
        target.stop()
        nginx.stop()


def switch_cycle(rig: Rig, new: str, old: str) -> Iterator[str]:
    """One rollout of ``new`` over ``old`` and a rollback of the next one: every kind of
    switch a plan makes (canary in, weights, canary out, rolling deploy). Yields what
    it just did, so a caller can pace the switches."""
    rig.target.deploy_canary(new)
    rig.traffic.shift(20)
    yield f"canary {new} at 20%"
    rig.traffic.shift(50)
    yield "canary at 50%"
    rig.target.deploy(new)
    yield f"deploy {new} (rolling)"
    rig.traffic.remove_canary()
    yield "canary removed (promote)"
    rig.target.deploy_canary(old)
    rig.traffic.shift(33)
    yield f"canary {old} at 33%"
    rig.traffic.remove_canary()
    yield "canary removed (rollback)"


@contextmanager
def users(
    url: str, count: int, slow: int = 0, upload: float = 0.8
) -> Iterator[Callable[[], dict[str, Any]]]:
    """``count`` users sending GET and POST through ``url`` and ``slow`` ones sending POST
    bodies that take ``upload`` seconds (``load.py``), in a process of their own; the
    function yielded stops them and returns the load generator's summary."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.nginx_switching.load",
            url,
            str(count),
            str(slow),
            str(upload),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    summary: dict[str, Any] = {}

    def finish() -> dict[str, Any]:
        if not summary:
            out, _ = process.communicate(timeout=60)
            summary.update(json.loads(out))
        return summary

    try:
        time.sleep(0.5)  # the users are sending before the first switch
        yield finish
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
