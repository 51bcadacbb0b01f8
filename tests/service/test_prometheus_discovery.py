"""A real Prometheus of the user's own finds the shop's instances through rollsafe's file_sd
targets file, labelled by release, instance and role, and follows each deploy."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from rollsafe.demo.prometheus import PrometheusServer
from tests.service.conftest import Service

pytestmark = pytest.mark.slow


def active_targets(url: str) -> list[dict[str, Any]]:
    response = httpx.get(url + "/api/v1/targets", params={"state": "active"}, timeout=5)
    response.raise_for_status()
    targets: list[dict[str, Any]] = response.json()["data"]["activeTargets"]
    return targets


def scraped(url: str, expected: set[tuple[str, str, str, str]], seconds: float = 30) -> None:
    """Until Prometheus scrapes exactly ``expected`` (address, release, instance, role), all up."""
    deadline = time.monotonic() + seconds
    while True:
        targets = active_targets(url)
        seen = {
            (
                t["scrapeUrl"].split("/")[2],
                t["labels"].get("release", ""),
                t["labels"].get("instance", ""),
                t["labels"].get("role", ""),
            )
            for t in targets
        }
        if seen == expected and all(t["health"] == "up" for t in targets):
            return
        assert time.monotonic() < deadline, f"Prometheus scrapes {seen}, expected {expected}"
        time.sleep(0.25)


def listed(service: Service) -> set[tuple[str, str, str, str]]:
    return {
        (f"127.0.0.1:{i.port}", i.release, str(i.index), i.role) for i in service.target.instances()
    }


def test_prometheus_finds_the_instances_with_their_labels_and_follows_deploys(
    service: Service, tmp_path: Path
) -> None:
    target = service.target
    target.deploy("1.0.0")
    groups = json.loads(target.discovery.read_text())
    assert target.discovery == service.home / "discovery" / "shop.json"
    assert sorted(g["labels"]["instance"] for g in groups) == ["0", "1"]
    assert all(g["labels"]["service"] == "shop" for g in groups)

    prometheus = PrometheusServer(tmp_path / "prometheus")
    try:
        prometheus.start(
            [{"job_name": "shop", "file_sd_configs": [{"files": [str(target.discovery)]}]}]
        )
        scraped(prometheus.url, listed(service))
        assert {r for _, r, _, _ in listed(service)} == {"1.0.0"}

        target.deploy_canary("1.1.0")
        scraped(prometheus.url, listed(service))
        assert {(r, role) for _, r, _, role in listed(service)} == {
            ("1.0.0", "stable"),
            ("1.1.0", "canary"),
        }

        target.deploy("1.1.0")
        target.stop_canary()
        scraped(prometheus.url, listed(service))
        assert {(r, role) for _, r, _, role in listed(service)} == {("1.1.0", "stable")}

        # Any series of the job splits by release with no label of the service's own.
        query = 'count by (release) (up{job="shop"} == 1)'
        response = httpx.get(prometheus.url + "/api/v1/query", params={"query": query}, timeout=5)
        result = response.json()["data"]["result"]
        assert {(r["metric"]["release"], r["value"][1]) for r in result} == {("1.1.0", "2")}

        target.stop()
        assert json.loads(target.discovery.read_text()) == []
        scraped(prometheus.url, set())
    finally:
        prometheus.stop()
