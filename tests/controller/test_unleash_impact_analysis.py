"""A flag rollout analysed per variant from Unleash impact metrics, end to end.

The service is not Python: it is simulated by what any Unleash SDK (Node, Go,
Java...) posts to ``/api/client/metrics``, impact metrics labelled with the
flag's variant for each user (``checkout: enabled`` / ``disabled``), sent over
HTTP to a real ``rollsafe server``. The controller runs the plan with
``metrics.provider: unleash``, which reads those samples from the same store;
only the target is a fake (rollsafe.testing: no process to deploy).
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rollsafe.config import load_plan
from rollsafe.config.unleash_metrics import UnleashMetrics
from rollsafe.controller.adapters import build_source
from rollsafe.controller.runner import Controller
from rollsafe.server import BackgroundServer
from rollsafe.store import RolloutState
from rollsafe.store.sqlite import SqliteStore
from rollsafe.testing import FakeTarget, fake_adapters
from tests.server.servers import FAST, bearer, make_tokens

PLAN = """\
version: 1
service: shop
target: {{type: process, root: {root}/root, command: ["{{python}}", "-c", "pass"]}}
flags: [{{name: checkout}}]
metrics:
  provider: unleash
  store: {root}/rollsafe.db
  flag: checkout
  canary: enabled
  baseline: disabled
  requests: http_requests
  errors: http_errors
  latency: http_seconds
analysis: {{interval: 50ms, warmup: 0s, min_requests: 100, on_inconclusive: pause}}
guards: []
rollback: {{levels: [flags], watch: 0s, verify: {{for: 0s, interval: 5ms}}}}
steps:
  - flag: {{name: checkout, rollout: 50}}
  - analysis: {{duration: 8s}}
  - promote:
"""


class NodeService(threading.Thread):
    """Posts what an Unleash SDK with impact metrics would, every 50 ms, until stopped."""

    def __init__(self, url: str, token: str, canary_error_rate: float) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.canary_error_rate = url, token, canary_error_rate
        self.stopped = threading.Event()
        self.sent = 0
        self.refused: list[str] = []

    def run(self) -> None:
        rng = random.Random(7)
        with httpx.Client(headers=bearer(self.token), timeout=5) as client:
            while not self.stopped.wait(0.05):
                answer = client.post(f"{self.url}/api/client/metrics", json=self.body(rng))
                if answer.status_code != 202:
                    self.refused.append(answer.text)
                self.sent += 1

    def body(self, rng: random.Random) -> dict[str, Any]:
        requests, errors, latency = [], [], []
        for arm, rate in (("enabled", self.canary_error_rate), ("disabled", 0.01)):
            labels = {"appName": "node-shop", "environment": "default", "checkout": arm}
            n = 40
            failed = sum(rng.random() < rate for _ in range(n))
            fast = sum(rng.random() < 0.8 for _ in range(n))
            requests.append({"labels": labels, "value": n})
            errors.append({"labels": labels, "value": failed})
            latency.append({
                "labels": labels, "count": n, "sum": 0.05 * n,
                "buckets": [{"le": 0.05, "count": fast}, {"le": 0.25, "count": n},
                            {"le": "+Inf", "count": n}],
            })  # fmt: skip
        return {
            "appName": "node-shop",
            "instanceId": "pod-1",
            "sdkVersion": "unleash-client-node:6.12.2",
            "platformName": "node",
            "bucket": {
                "start": "2026-12-05T00:00:00.000Z",
                "stop": "2026-12-05T00:00:01.000Z",
                "toggles": {"checkout": {"yes": 40, "no": 40, "variants": {}}},
            },
            "impactMetrics": [
                {
                    "name": "http_requests",
                    "help": "requests",
                    "type": "counter",
                    "samples": requests,
                },
                {
                    "name": "http_errors",
                    "help": "5xx answers",
                    "type": "counter",
                    "samples": errors,
                },
                {
                    "name": "http_seconds",
                    "help": "latency",
                    "type": "histogram",
                    "samples": latency,
                },
            ],
        }


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Path, str, BackgroundServer]]:
    db = tmp_path / "rollsafe.db"
    tokens = make_tokens(db)
    server = BackgroundServer(db, FAST).start()
    try:
        yield tmp_path, tokens.client, server
    finally:
        server.stop()


def run_rollout(
    root: Path, token: str, server: BackgroundServer, canary_error_rate: float
) -> tuple[Any, SqliteStore, NodeService]:
    plan = root / "plan.yaml"
    plan.write_text(PLAN.format(root=root))
    assert isinstance(load_plan(plan).metrics, UnleashMetrics)
    adapters = dataclasses.replace(fake_adapters(FakeTarget()), source=build_source)
    store = SqliteStore(root / "rollsafe.db")
    controller = Controller(store, root / "home", adapters=adapters)
    service = NodeService(server.url, token, canary_error_rate)
    service.start()
    try:
        rollout = controller.run(controller.create(plan).id)
    finally:
        service.stopped.set()
        service.join(5)
    assert service.refused == []
    return rollout, store, service


def verdicts(store: SqliteStore, rollout_id: str) -> list[dict[str, Any]]:
    return [dict(e.data) for e in store.journal(rollout_id) if e.kind == "analysis.verdict"]


@pytest.mark.slow
def test_a_variant_with_more_errors_is_rolled_back(
    world: tuple[Path, str, BackgroundServer],
) -> None:
    root, token, server = world
    rollout, store, _ = run_rollout(root, token, server, canary_error_rate=0.3)
    try:
        assert rollout.state is RolloutState.ROLLED_BACK, rollout.reason
        [verdict] = verdicts(store, rollout.id)
        assert verdict["verdict"]["verdict"] == "fail", verdict
        observed = [e.data for e in store.journal(rollout.id) if e.kind == "analysis.observation"]
        arms = {o["arm"]: o for o in observed[-1]["observations"]}
        assert arms["canary"]["errors"] / arms["canary"]["requests"] > 0.15
        assert arms["baseline"]["errors"] / arms["baseline"]["requests"] < 0.05
        assert store.get_flag("checkout").definition["enabled"] is False  # L1: flag off
    finally:
        store.close()


@pytest.mark.slow
def test_variants_alike_pass_and_promote(world: tuple[Path, str, BackgroundServer]) -> None:
    root, token, server = world
    rollout, store, _ = run_rollout(root, token, server, canary_error_rate=0.01)
    try:
        assert rollout.state is RolloutState.PROMOTED, rollout.reason
        [verdict] = verdicts(store, rollout.id)
        assert verdict["verdict"]["verdict"] == "pass", verdict
        observed = [e.data for e in store.journal(rollout.id) if e.kind == "analysis.observation"]
        arms = {o["arm"]: o for o in observed[-1]["observations"]}
        assert arms["canary"]["requests"] >= 100
        assert "latency_seconds_bucket" in arms["canary"]
    finally:
        store.close()
