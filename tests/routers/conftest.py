from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rollsafe.config.routers import NginxRouter as NginxRouterConfig
from rollsafe.routers import NginxRouter
from tests.metrics.prometheus_server import free_port

UPSTREAM = Path(__file__).with_name("upstream.py")


@dataclass
class Upstreams:
    """Two stable servers and one canary server, each answering its name."""

    stable: list[str]
    canary: list[str]


@pytest.fixture(scope="session")
def upstreams() -> Iterator[Upstreams]:
    names = {"stable-1": free_port(), "stable-2": free_port(), "canary-1": free_port()}
    processes: list[subprocess.Popen[str]] = []
    try:
        for name, port in names.items():
            process = subprocess.Popen(
                [sys.executable, str(UPSTREAM), name, str(port)],
                stdout=subprocess.PIPE,
                text=True,
            )
            processes.append(process)
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
        addresses = {name: f"127.0.0.1:{port}" for name, port in names.items()}
        yield Upstreams(
            stable=[addresses["stable-1"], addresses["stable-2"]], canary=[addresses["canary-1"]]
        )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.communicate(timeout=10)


@pytest.fixture
def router(tmp_path: Path) -> Iterator[NginxRouter]:
    router = NginxRouter(NginxRouterConfig(), home=tmp_path / "router")
    try:
        yield router
    finally:
        router.stop()
