"""A real Prometheus (Debian package ``prometheus``) on a free loopback port, for tests.

Its own configuration, data directory and log under the test's directory; it scrapes
the given loopback targets every second and is stopped by :meth:`Prometheus.stop`.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest


def prometheus_binary() -> str:
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(binary).exists():
        pytest.fail("prometheus is not installed: run scripts/install-servers.sh (make servers)")
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Prometheus:
    """``start(jobs)`` with ``{job: ["127.0.0.1:PORT", ...]}``; ``url`` once started."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, jobs: dict[str, list[str]]) -> Prometheus:
        self.root.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": targets}]}
                for job, targets in jobs.items()
            ],
        }
        config_file = self.root / "prometheus.yml"
        config_file.write_text(json.dumps(config))  # JSON is YAML
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = (self.root / "prometheus.log").open("wb")
        self._process = subprocess.Popen(
            [
                prometheus_binary(),
                f"--config.file={config_file}",
                f"--storage.tsdb.path={self.root / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 15
        while True:
            if self._process.poll() is not None:
                raise RuntimeError("prometheus exited:\n" + self.log())
            try:
                if httpx.get(self.url + "/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("prometheus not ready within 15 s:\n" + self.log())
            time.sleep(0.05)

    def log(self) -> str:
        return (self.root / "prometheus.log").read_text(errors="replace")

    def query(self, promql: str) -> list[Any]:
        response = httpx.get(self.url + "/api/v1/query", params={"query": promql}, timeout=5)
        response.raise_for_status()
        result: list[Any] = response.json()["data"]["result"]
        return result

    def scalar(self, promql: str) -> float | None:
        """The value of a one-element instant vector, None when it is empty."""
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None

    def wait_until(
        self, promql: str, done: Callable[[float | None], bool], seconds: float = 10
    ) -> None:
        """Until ``done(value of promql)``: Prometheus has scraped what the test wants."""
        deadline = time.monotonic() + seconds
        value = self.scalar(promql)
        while not done(value):
            assert time.monotonic() < deadline, f"{promql} is still {value} after {seconds}s"
            time.sleep(0.1)
            value = self.scalar(promql)

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
