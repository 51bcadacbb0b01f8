"""PrometheusSource against a real Prometheus scraping real services on loopback.

The shop's own ``/metrics`` is the reference: once Prometheus has scraped after the
last request, the source's totals per arm equal the shops' counters exactly.
"""

from __future__ import annotations

import math
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from rollsafe.config.metric_sources import PrometheusMetrics
from rollsafe.errors import MetricsError
from rollsafe.flags import rollout_feature
from rollsafe.metrics import PrometheusSource
from rollsafe.store import SqliteStore
from tests.demo.servers import write_release
from tests.metrics.exposition import Exposition
from tests.metrics.prometheus_server import Prometheus, free_port

pytestmark = pytest.mark.slow


# -- one Prometheus for the module (its first scrape comes ~5 s after it starts), scraping
# -- two real shop instances at 50% fast-checkout and an exposition the test writes


@dataclass
class Servers:
    prometheus: Prometheus
    urls: list[str]
    exposition: Exposition

    def config(self, **fields: Any) -> PrometheusMetrics:
        fields.setdefault("selector", {"job": "shop"})
        fields.setdefault("lookback", "10s")
        return PrometheusMetrics(url=self.prometheus.url, timeout="3s", **fields)


def start_shop(root: Path, port: int) -> subprocess.Popen[bytes]:
    log = (root / f"shop-{port}.log").open("wb")
    try:
        return subprocess.Popen(
            [
                sys.executable, "-m", "rollsafe.demo.shop",
                "--release-dir", str(write_release(root, "1.1.0")),
                "--port", str(port),
                "--db", str(root / "data" / "shop.db"),
                "--home", str(root / "home"),
                "--log-level", "warning",
            ],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    finally:
        log.close()


def wait_healthy(url: str, process: subprocess.Popen[bytes], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while True:
        assert process.poll() is None, f"shop {url} exited with {process.returncode}"
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"shop {url} not healthy within {seconds}s"
        time.sleep(0.05)


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    root = tmp_path_factory.mktemp("servers")
    (root / "home").mkdir()
    store = SqliteStore(root / "home" / "rollsafe.db")
    try:
        store.put_flag("fast-checkout", rollout_feature("fast-checkout", 50), actor="test")
    finally:
        store.close()
    ports = [free_port(), free_port()]
    exposition = Exposition()
    prometheus = Prometheus(root / "prometheus")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        jobs = {
            "shop": [f"127.0.0.1:{port}" for port in ports],
            "service": [exposition.url.removeprefix("http://")],
        }
        prometheus.start(jobs)  # first, so that its start-up overlaps the shops'
        processes = [start_shop(root, port) for port in ports]
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url, process in zip(urls, processes, strict=True):
            wait_healthy(url, process)
        yield Servers(prometheus, urls, exposition)
    finally:
        prometheus.stop()
        stop_processes(processes)
        exposition.stop()


def drive(urls: list[str], checkouts: int, products: int, first_user: int = 0) -> dict[str, int]:
    """Checkouts spread over users and instances; the variants the shop answered."""
    variants = {"new": 0, "old": 0}
    clients = [httpx.Client(base_url=url, timeout=5) for url in urls]
    try:
        for i in range(checkouts):
            body = {"user_id": f"u{first_user + i}", "items": [{"product_id": 1, "quantity": 1}]}
            response = clients[i % len(clients)].post("/checkout", json=body)
            assert response.status_code == 201, response.text
            variants[response.json()["variant"]] += 1
        for i in range(products):
            assert clients[i % len(clients)].get("/products").status_code == 200
    finally:
        for client in clients:
            client.close()
    return variants


def shop_counters(urls: list[str], route: str) -> dict[str, dict[str, Any]]:
    """Per arm, from the shops' own /metrics: requests, errors and buckets of ``route``."""
    arms: dict[str, dict[str, Any]] = {
        arm: {"requests": 0.0, "errors": 0.0, "buckets": {}} for arm in ("canary", "baseline")
    }
    for url in urls:
        text = httpx.get(url + "/metrics", timeout=5).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sample.labels
                if labels.get("route") != route:
                    continue
                arm = arms["canary" if labels.get("variant") == "new" else "baseline"]
                if sample.name == "http_requests_total":
                    arm["requests"] += sample.value
                    arm["errors"] += sample.value if labels["status"].startswith("5") else 0
                elif sample.name == "http_request_duration_seconds_bucket":
                    bound = float(labels["le"])
                    key = "+Inf" if bound == math.inf else repr(bound)
                    arm["buckets"][key] = arm["buckets"].get(key, 0.0) + sample.value
    return arms


def assert_matches(observations: list[Any], expected: dict[str, dict[str, Any]]) -> None:
    assert [o["arm"] for o in observations] == ["canary", "baseline"]
    for observation in observations:
        want = expected[observation["arm"]]
        assert observation["requests"] == want["requests"]
        assert observation["errors"] == want["errors"]
        assert observation["latency_seconds_bucket"] == want["buckets"]


def wait_for_prometheus(servers: Servers, route: str, total: float) -> None:
    promql = f'sum(http_requests_total{{job="shop",route="{route}"}})'
    servers.prometheus.wait_until(promql, lambda value: value == total)


def test_observations_equal_the_shops_own_counters_for_each_arm(servers: Servers) -> None:
    variants = drive(servers.urls, checkouts=80, products=10)
    expected = shop_counters(servers.urls, "/checkout")
    assert expected["canary"]["requests"] == variants["new"] > 10
    assert expected["baseline"]["requests"] == variants["old"] > 10
    wait_for_prometheus(servers, "/checkout", 80)

    with PrometheusSource(servers.config(match={"route": "/checkout"})) as source:
        first = source.observe(1.0)
        assert_matches(first, expected)
        assert [o["t"] for o in first] == [1.0, 1.0]
        # Memory describes the processes: the mean over both instances, same for both arms.
        memory = {o["memory_bytes"] for o in first}
        assert len(memory) == 1
        assert 10e6 < memory.pop() < 2e9

        # Later looks add what happened since: the totals stay equal to the counters.
        more = drive(servers.urls, checkouts=40, products=0, first_user=1000)
        wait_for_prometheus(servers, "/checkout", 120)
        second = source.observe(2.0)
        expected = shop_counters(servers.urls, "/checkout")
        assert_matches(second, expected)
        assert second[0]["requests"] - first[0]["requests"] == more["new"]
        assert second[1]["requests"] - first[1]["requests"] == more["old"]


def test_match_keeps_only_the_matching_series(servers: Servers) -> None:
    drive(servers.urls, checkouts=4, products=12, first_user=2000)
    expected = shop_counters(servers.urls, "/products")
    wait_for_prometheus(servers, "/products", expected["baseline"]["requests"])
    with PrometheusSource(servers.config(match={"route": "/products"})) as source:
        canary, baseline = source.observe(0.0)
    # /products never takes the new path: all of it is baseline.
    assert canary["requests"] == 0
    assert "latency_seconds_bucket" not in canary
    assert baseline["requests"] == expected["baseline"]["requests"] >= 12
    assert baseline["latency_seconds_bucket"] == expected["baseline"]["buckets"]


def test_a_selector_nothing_matches_is_an_error_not_zero(servers: Servers) -> None:
    # A value needing escapes must still be valid PromQL: the error is "no sample".
    config = servers.config(selector={"job": 'no "such" \\ job'})
    with PrometheusSource(config) as source, pytest.raises(MetricsError, match="no sample of"):
        source.observe(0.0)


def test_an_unknown_histogram_or_gauge_leaves_the_field_out(servers: Servers) -> None:
    drive(servers.urls, checkouts=2, products=0, first_user=3000)
    counters = shop_counters(servers.urls, "/checkout")
    wait_for_prometheus(servers, "/checkout", sum(arm["requests"] for arm in counters.values()))
    config = servers.config(latency_metric="no_such_histogram", memory_metric="no_such_gauge")
    with PrometheusSource(config) as source:
        observations = source.observe(0.0)
    for observation in observations:
        assert "latency_seconds_bucket" not in observation
        assert "memory_bytes" not in observation
    assert observations[0]["requests"] + observations[1]["requests"] > 0


# -- counters Prometheus sees reset, appear and come back, from an exposition the test writes


def exposition_text(requests: dict[tuple[str, str], float], buckets: dict[str, float]) -> str:
    lines = ["# TYPE http_requests_total counter"]
    for (release, status), value in requests.items():
        lines.append(f'http_requests_total{{release="{release}",status="{status}"}} {value}')
    lines.append("# TYPE http_request_duration_seconds histogram")
    for le, value in buckets.items():
        lines.append(f'http_request_duration_seconds_bucket{{release="1.1.0",le="{le}"}} {value}')
    return "\n".join(lines) + "\n"


def test_resets_and_new_series_keep_the_totals_cumulative(servers: Servers) -> None:
    served, prometheus = servers.exposition, servers.prometheus
    config = PrometheusMetrics(
        url=prometheus.url, lookback="10s", arm_label="release", canary="1.1.0",
        baseline="1.0.0", selector={"job": "service"},
    )  # fmt: skip
    marker = 'sum(http_requests_total{job="service"})'

    def expose(requests: dict[tuple[str, str], float], buckets: dict[str, float]) -> None:
        served.text = exposition_text(requests, buckets)
        prometheus.wait_until(marker, lambda value: value == sum(requests.values()))

    # A decoy arm value that the regex "1\.1\.0" must not take for the canary.
    expose({("1.1.0", "200"): 10, ("1.0.0", "200"): 20, ("1.0.0", "500"): 2, ("1x1x0", "200"): 7},
           {"0.1": 8, "+Inf": 10})  # fmt: skip
    with PrometheusSource(config) as source:
        canary, baseline = source.observe(0.0)
        assert (canary["requests"], canary["errors"]) == (10, 0)
        assert (baseline["requests"], baseline["errors"]) == (22, 2)
        assert canary["latency_seconds_bucket"] == {"0.1": 8, "+Inf": 10}
        assert "latency_seconds_bucket" not in baseline

        # Growth, and a canary 5xx series that did not exist before: counted in full.
        expose({("1.1.0", "200"): 15, ("1.1.0", "500"): 3, ("1.0.0", "200"): 26,
                ("1.0.0", "500"): 2}, {"0.1": 12, "+Inf": 18})  # fmt: skip
        canary, baseline = source.observe(1.0)
        assert (canary["requests"], canary["errors"]) == (18, 3)
        assert (baseline["requests"], baseline["errors"]) == (28, 2)
        assert canary["latency_seconds_bucket"] == {"0.1": 12, "+Inf": 18}

        # The process restarts: every counter starts again from zero and grows a little.
        # Two scrapes happen between looks (4, then 6): each increase counts once.
        expose({("1.1.0", "200"): 4, ("1.0.0", "200"): 1}, {"0.1": 3, "+Inf": 4})
        expose({("1.1.0", "200"): 6, ("1.0.0", "200"): 1}, {"0.1": 5, "+Inf": 6})
        canary, baseline = source.observe(2.0)
        assert (canary["requests"], canary["errors"]) == (24, 3)
        assert (baseline["requests"], baseline["errors"]) == (29, 2)
        assert canary["latency_seconds_bucket"] == {"0.1": 17, "+Inf": 24}

        # Looks overlap (each fetches the lookback again): samples already counted are not.
        assert [o["requests"] for o in source.observe(3.0)] == [24, 29]


def test_memory_is_per_arm_where_the_gauge_carries_the_arm_label(servers: Servers) -> None:
    """A release canary's targets labelled by release: each arm's own processes' memory.
    (Gauges without the label, as the shop's, give both arms the same mean: the first test.)"""
    served, prometheus = servers.exposition, servers.prometheus
    config = PrometheusMetrics(
        url=prometheus.url, lookback="10s", arm_label="release", canary="1.1.0",
        baseline="1.0.0", selector={"job": "service"},
    )  # fmt: skip
    requests = {("1.1.0", "200"): 5, ("1.0.0", "200"): 9}
    served.text = exposition_text(requests, {"+Inf": 5}) + (
        "# TYPE process_resident_memory_bytes gauge\n"
        'process_resident_memory_bytes{release="1.1.0",instance_id="a"} 300e6\n'
        'process_resident_memory_bytes{release="1.1.0",instance_id="b"} 320e6\n'
        'process_resident_memory_bytes{release="1.0.0",instance_id="c"} 200e6\n'
    )
    prometheus.wait_until(
        'sum(process_resident_memory_bytes{job="service"})', lambda value: value == 820e6
    )
    with PrometheusSource(config) as source:
        canary, baseline = source.observe(0.0)
    assert canary["memory_bytes"] == 310e6
    assert baseline["memory_bytes"] == 200e6


# -- Prometheus unreachable or not answering ------------------------------------------


def test_prometheus_down_is_a_metrics_error() -> None:
    config = PrometheusMetrics(url=f"http://127.0.0.1:{free_port()}", timeout="1s")
    with PrometheusSource(config) as source, pytest.raises(MetricsError, match="cannot query"):
        source.observe(0.0)


def test_a_prometheus_that_does_not_answer_times_out() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        config = PrometheusMetrics(url=f"http://127.0.0.1:{port}", timeout="300ms")
        started = time.monotonic()
        with PrometheusSource(config) as source, pytest.raises(MetricsError, match="Timeout"):
            source.observe(0.0)
    assert time.monotonic() - started < 2


# -- answers that are not what the Prometheus API promises (a mock transport) ---------


def mock_source(handler: Any) -> PrometheusSource:
    config = PrometheusMetrics(url="http://prometheus.test", selector={"job": "shop"})
    return PrometheusSource(config, client=httpx.Client(transport=httpx.MockTransport(handler)))


def matrix(*series: tuple[dict[str, str], list[tuple[float, float]]]) -> dict[str, Any]:
    result = [
        {"metric": labels, "values": [[ts, str(value)] for ts, value in samples]}
        for labels, samples in series
    ]
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


EMPTY_VECTOR = {"status": "success", "data": {"resultType": "vector", "result": []}}


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (400, {"status": "error", "errorType": "bad_data", "error": "parse error"},
         "Prometheus refused .*bad_data: parse error"),
        (503, "Service Unavailable", "HTTP 503 from http://prometheus.test/api/v1/query"),
        (200, "<html>a login page</html>", "did not answer .* as the Prometheus API does"),
        (200, EMPTY_VECTOR, "did not answer .* \\(a matrix result\\)"),
        (200, {"status": "success", "data": {"resultType": "matrix", "result": [{"x": 1}]}},
         "malformed series"),
    ],
)  # fmt: skip
def test_an_answer_that_is_not_a_result_is_a_metrics_error(
    status: int, body: Any, message: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        del request
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    with mock_source(handler) as source, pytest.raises(MetricsError, match=message):
        source.observe(0.0)


def test_a_failed_look_changes_nothing() -> None:
    requests = {"__name__": "http_requests_total", "variant": "new", "status": "200"}
    bucket = {"__name__": "http_request_duration_seconds_bucket", "variant": "new", "le": "+Inf"}
    answers = {"requests": [(1.0, 5.0)], "buckets": [(1.0, 5.0)], "fail": False}
    queries: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        queries.append(query)
        assert request.url.params["timeout"] == "2000ms"
        if query.startswith("avg by ("):
            return httpx.Response(200, json=EMPTY_VECTOR)
        if query.startswith("http_request_duration_seconds_bucket{"):
            if answers["fail"]:
                return httpx.Response(503, text="overloaded")
            return httpx.Response(200, json=matrix((bucket, answers["buckets"])))
        return httpx.Response(200, json=matrix((requests, answers["requests"])))

    with mock_source(handler) as source:
        assert source.observe(0.0)[0]["requests"] == 5
        answers.update(requests=[(1.0, 5.0), (2.0, 9.0)], buckets=[(1.0, 5.0), (2.0, 9.0)])
        answers["fail"] = True
        with pytest.raises(MetricsError, match="HTTP 503"):
            source.observe(1.0)
        answers["fail"] = False
        canary, baseline = source.observe(2.0)
    # The failed look's requests answer was read but not counted; the next look counts it once.
    assert canary["requests"] == 9
    assert canary["latency_seconds_bucket"] == {"+Inf": 9}
    assert baseline["requests"] == 0
    assert "memory_bytes" not in canary
    assert queries[:3] == [
        'http_requests_total{job="shop",variant=~"new|old"}[60000ms]',
        'http_request_duration_seconds_bucket{job="shop",variant=~"new|old"}[60000ms]',
        'avg by (variant) (process_resident_memory_bytes{job="shop"})',
    ]


def test_the_config_refuses_what_cannot_be_queried() -> None:
    with pytest.raises(ValidationError, match="canary and baseline must differ"):
        PrometheusMetrics(canary="new", baseline="new")
    with pytest.raises(ValidationError, match="requests_metric"):
        PrometheusMetrics(requests_metric='x{job="a"}')
    with pytest.raises(ValidationError, match="selector"):
        PrometheusMetrics(selector={"not a label": "x"})
    with pytest.raises(ValidationError, match="lookback"):
        PrometheusMetrics(lookback="500ms")
    assert PrometheusMetrics(timeout="250ms").timeout == 0.25
