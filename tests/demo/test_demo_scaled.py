"""The demo on the scale-out parts: PostgreSQL store, Prometheus metrics, nginx canary routing.

Same outcomes as the embedded default: no fault promotes, a leak rolls back at L2,
with every request answered through nginx and no process left behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rollsafe.config import PrometheusMetrics, load_plan
from rollsafe.demo.runner import run_demo
from rollsafe.store import PostgresStore
from tests.demo.workdirs import processes_of, queries
from tests.store.backends import postgres_schema

pytestmark = pytest.mark.slow


@pytest.fixture
def store_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


@pytest.mark.parametrize(
    ("fault", "outcome", "level"), [("none", "promoted", 0), ("leak", "rolled_back", 2)]
)
def test_the_demo_on_postgres_prometheus_and_nginx(
    tmp_path: Path, store_url: str, fault: str, outcome: str, level: int
) -> None:
    workdir = tmp_path / fault
    result = run_demo(
        workdir, fault=fault, store_url=store_url, metrics="prometheus", router="nginx"
    )
    assert processes_of(workdir) == []  # shops, Prometheus and nginx all stopped
    assert result.outcome == outcome, result.timeline
    assert result.rollback["final_level"] == level, result.rollback["levels"]
    # Every request went through nginx and got an answer, while instances moved behind it.
    assert result.load["connection_failures"] == 0, result.load
    access_log = (result.home / "routers" / "shop" / "access.log").read_text().splitlines()
    assert len(access_log) >= result.load["sent"] * 0.99
    if fault == "none":
        assert result.load["errors"] == 0, result.load

    # The state lives in PostgreSQL, not in the workdir.
    assert not (result.home / "rollsafe.db").exists()
    store = PostgresStore(store_url)
    try:
        assert store.verify_journal().ok
        journal = store.journal(result.rollout_id)
        plan_text = store.get_rollout(result.rollout_id).plan_text
    finally:
        store.close()
    canaries = [
        e.data["result"]
        for e in journal
        if e.kind == "step.succeeded" and e.data["kind"] == "canary"
    ]
    assert [(c["release"], c["weight"]) for c in canaries][:1] == [("1.1.0", 20)]
    if fault == "none":
        assert [c["weight"] for c in canaries] == [20, 33]
        # The plan file in the workdir is the one that ran, with the router and Prometheus.
        assert plan_text == (workdir / "plan.yaml").read_text()
        plan = load_plan(workdir / "plan.yaml")
        assert isinstance(plan.metrics, PrometheusMetrics)
        assert (plan.metrics.selector, plan.metrics.match) == (
            {"job": "shop"},
            {"route": "/checkout"},
        )
        assert plan.router is not None
    else:
        levels = [e.data for e in journal if e.kind == "rollback.level_ended"]
        # Flags off cannot stop a leak on every path: Prometheus's memory figures say so;
        # the leaking canary was caught beside 1.0.0, and level 2 took it out.
        assert "memory_growth" in levels[0]["verification"]["reason"]
        assert [level["recovered"] for level in levels] == [False, True]
        assert levels[1]["result"]["canary_stopped"] == "1.1.0"
        memory = 'process_resident_memory_bytes{job="shop"})'
        assert any(q.startswith("avg by (") and q.endswith(memory) for _, q in queries(workdir))
    # Analysis read Prometheus: its query log holds the requests queries of each look.
    looks = [e for e in journal if e.kind == "analysis.observation"]
    requests_queries = [q for _, q in queries(workdir) if q.startswith("http_requests_total{")]
    assert len(looks) >= 5
    assert len(requests_queries) >= len(looks)
