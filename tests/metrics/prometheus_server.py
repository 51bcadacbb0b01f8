"""A real Prometheus (Debian package ``prometheus``) on a free loopback port, for tests.

The process itself is the demo's :class:`rollsafe.demo.prometheus.PrometheusServer`
(configuration, data directory and log under the test's directory, scraping every
second); this adds static targets and the queries tests wait on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rollsafe.demo.prometheus import PrometheusServer
from rollsafe.support.http import http_get

# Ports that another process binds later: below the ephemeral range, so connections other
# tests make (under xdist, many at once) cannot take them first (tests/ports.py).
from tests.ports import unused_port as free_port

__all__ = ["Prometheus", "free_port"]


class Prometheus:
    """``start(jobs)`` with ``{job: ["127.0.0.1:PORT", ...]}``; ``url`` once started."""

    def __init__(self, root: Path) -> None:
        self.server = PrometheusServer(root)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self, jobs: dict[str, list[str]]) -> Prometheus:
        self.server.start(
            [
                {"job_name": job, "static_configs": [{"targets": targets}]}
                for job, targets in jobs.items()
            ]
        )
        return self

    def log(self) -> str:
        return self.server.log_file.read_text(errors="replace")

    def query(self, promql: str) -> list[Any]:
        response = http_get(self.url + "/api/v1/query", params={"query": promql}, timeout=5)
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
        self.server.stop()
