"""``rollsafe demo --metrics prometheus``: the demo's own Prometheus, end to end.

The demo runs a real Prometheus that scrapes the shop's instances through file-based
service discovery, and the plan's metrics are PromQL over it. Evidence that the
analysis read Prometheus, not the instances: Prometheus's own query log holds a
query for every look the journal recorded, sent just before it was recorded.
"""

from __future__ import annotations

import http.server
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from rollsafe.config import PrometheusMetrics, load_plan
from rollsafe.demo.prometheus import DemoPrometheus, use_prometheus
from rollsafe.demo.runner import DemoResult, prepare_workdir, run_demo
from rollsafe.errors import RollsafeError
from rollsafe.journal import JournalEntry
from rollsafe.store import SqliteStore
from tests.demo.workdirs import processes_of, prometheus_runs, queries


def journal(result: DemoResult) -> list[JournalEntry]:
    store = SqliteStore(result.home / "rollsafe.db")
    try:
        return store.journal(result.rollout_id)
    finally:
        store.close()


def stored_plan(result: DemoResult) -> str:
    """The plan text the controller stored when the rollout started (what it ran)."""
    store = SqliteStore(result.home / "rollsafe.db")
    try:
        return store.get_rollout(result.rollout_id).plan_text
    finally:
        store.close()


def assert_looks_queried_prometheus(result: DemoResult) -> None:
    """Each journaled look follows, within a few seconds, its requests query to Prometheus."""
    sent = sorted(
        at
        for at, promql in queries(result.workdir)
        if promql.startswith("http_requests_total{") and 'job="shop"' in promql
    )
    looks = [e.ts for e in journal(result) if e.kind == "analysis.observation"]
    assert len(looks) >= 5
    # 3 s: a look sends three queries one after the other on a machine that may be busy.
    unexplained = [ts for ts in looks if not any(ts - 3 <= at <= ts for at in sent)]
    assert unexplained == [], f"{len(unexplained)} of {len(looks)} looks without a query"


def run(workdir: Path, fault: str) -> dict[str, Any]:
    result = run_demo(workdir, fault=fault, metrics="prometheus")
    assert processes_of(workdir) == []
    assert_looks_queried_prometheus(result)
    summary = result.to_dict()
    summary["entries"] = journal(result)
    summary["plan_text"] = stored_plan(result)
    return summary


@pytest.mark.slow
def test_errors_roll_back_at_level_1(tmp_path: Path) -> None:
    summary = run(tmp_path / "errors", "errors")
    assert summary["outcome"] == "rolled_back", summary["timeline"]
    assert summary["final_level"] == 1, summary["levels"]
    assert [level["recovered"] for level in summary["levels"]] == [True]
    assert summary["fault_onset"] <= summary["detected_at"] <= summary["recovered_at"]
    (level,) = [e.data for e in summary["entries"] if e.kind == "rollback.level_ended"]
    assert "note" not in level["verification"], "verified with metrics, not health checks alone"
    window = (level["started"], level["ended"])
    during = [at for at, _ in queries(tmp_path / "errors") if window[0] < at < window[1]]
    assert len(during) >= 9  # the verification's looks, three queries each


def start_demo(workdir: Path) -> subprocess.Popen[str]:
    """The CLI demo in a subprocess, with Python's Ctrl-C handler even if this test's
    shell ignores SIGINT (background jobs inherit that, and Python then keeps it)."""
    code = (
        "import signal, runpy; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "runpy.run_module('rollsafe', run_name='__main__')"
    )
    argv = ["demo", "--metrics", "prometheus", "--workdir", str(workdir), "--json"]
    return subprocess.Popen(
        [sys.executable, "-c", code, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_analysis(workdir: Path, demo: subprocess.Popen[str]) -> None:
    """Until the rollout is being analysed: its Prometheus has answered a query."""
    log = workdir / "prometheus" / "queries.log"
    deadline = time.monotonic() + 90
    while not (log.exists() and log.stat().st_size > 0):
        assert demo.poll() is None, demo.communicate()
        assert time.monotonic() < deadline, "the demo never queried its Prometheus"
        time.sleep(0.2)


@pytest.mark.slow
def test_ctrl_c_stops_prometheus_and_the_shop(tmp_path: Path) -> None:
    workdir = tmp_path / "interrupted"
    demo = start_demo(workdir)
    try:
        wait_for_analysis(workdir, demo)
        assert prometheus_runs(workdir)
        demo.send_signal(signal.SIGINT)
        _, stderr = demo.communicate(timeout=60)
    finally:
        demo.kill()
        demo.wait()
    assert demo.returncode == 130, stderr[-2000:]
    assert processes_of(workdir) == []


@pytest.mark.slow
def test_a_killed_demo_s_prometheus_is_stopped_by_the_next_run(tmp_path: Path) -> None:
    workdir = tmp_path / "killed"
    demo = start_demo(workdir)
    try:
        wait_for_analysis(workdir, demo)
    finally:
        demo.kill()  # no chance to clean up
        demo.communicate()
    assert prometheus_runs(workdir)
    prepare_workdir(workdir, "none")  # what the next `rollsafe demo` does first
    assert processes_of(workdir) == []


def test_the_rewritten_plan_differs_only_in_its_metrics(tmp_path: Path) -> None:
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(resources.files("rollsafe.demo").joinpath("plan.yaml").read_text())
    before = load_plan(plan_path)
    use_prometheus(plan_path, "http://127.0.0.1:9999")
    after = load_plan(plan_path)
    assert after.model_dump(exclude={"metrics"}) == before.model_dump(exclude={"metrics"})
    assert after.metrics == PrometheusMetrics(
        url="http://127.0.0.1:9999",
        selector={"job": "shop"},
        match={"route": "/checkout"},
        lookback="15s",
        arm_label="variant",
        canary="new",
        baseline="old",
    )
    text = plan_path.read_text()
    assert "# Nobody watches the demo" in text  # comments outside the block stay
    # Only a scrape section is replaced; anything else is refused, the file unchanged.
    with pytest.raises(RollsafeError, match="not the scrape provider"):
        use_prometheus(plan_path, "http://127.0.0.1:1")
    assert plan_path.read_text() == text


@pytest.mark.parametrize(
    ("args", "env_path", "code", "message"),
    [
        (["--metrics", "statsd"], "/usr/bin:/bin", 2, "--metrics: must be one of scrape"),
        (["--metrics", "prometheus"], "", 1, "prometheus not found"),
    ],
)
def test_refused_before_anything_starts(
    tmp_path: Path, args: list[str], env_path: str, code: int, message: str
) -> None:
    workdir = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "rollsafe", "demo", "--workdir", str(workdir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": env_path or str(tmp_path), "COLUMNS": "300"},
    )
    assert result.returncode == code, result.stdout + result.stderr
    assert message in result.stderr
    if code == 1:
        assert "make servers" in result.stderr
    assert not workdir.exists()


class MetricsHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"# TYPE hits_total counter\nhits_total 1\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


@pytest.fixture
def endpoints() -> Iterator[list[str]]:
    """Two metrics endpoints on loopback; the list says which are live (the test edits it)."""
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), MetricsHandler) for _ in "ab"]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield [f"http://127.0.0.1:{server.server_address[1]}" for server in servers]
    for server in servers:
        server.shutdown()
        server.server_close()


def follow_a_deploy_then_fail(prometheus: DemoPrometheus, live: list[str], new: str) -> None:
    with prometheus:
        prometheus.wait_scraping()
        live[:] = [new]  # as a deploy does: another port
        prometheus.wait_scraping(timeout=20)
        scraped = {t["labels"]["instance"] for t in prometheus.server.active_targets()}
        assert scraped == {new.removeprefix("http://")}
        targets = json.loads(prometheus.targets.path.read_text())
        assert targets == [{"targets": sorted(scraped), "labels": {}}]
        raise RuntimeError("boom")


@pytest.mark.slow
def test_prometheus_follows_the_live_endpoints_and_stops_on_error(
    tmp_path: Path, endpoints: list[str]
) -> None:
    live = [endpoints[0]]
    root = tmp_path / "prometheus"
    prometheus = DemoPrometheus(root, lambda: live)
    with pytest.raises(RuntimeError, match="boom"):
        follow_a_deploy_then_fail(prometheus, live, endpoints[1])
    assert not prometheus.server.running
    assert not (root / "prometheus.pid").exists()
    assert processes_of(root) == []
