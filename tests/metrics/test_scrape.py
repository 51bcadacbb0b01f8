"""ScrapeSource over real loopback HTTP: aggregation, arms, match, resets, failures."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from rollsafe.config import ScrapeMetrics
from rollsafe.errors import MetricsError
from rollsafe.metrics import ScrapeSource
from rollsafe.typing import Observation
from tests.demo.servers import FakeFlags, Shops, checkout_body, client, free_socket
from tests.metrics.exposition import Exposition

CHECKOUT = ScrapeMetrics(match={"route": "/checkout"})


@pytest.fixture
def exposition() -> Iterator[Exposition]:
    server = Exposition()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def second_exposition() -> Iterator[Exposition]:
    server = Exposition()
    try:
        yield server
    finally:
        server.stop()


def by_arm(observations: list[Observation]) -> dict[str, Observation]:
    assert [o["arm"] for o in observations] == ["canary", "baseline"]
    return {o["arm"]: o for o in observations}


def counts(source: ScrapeSource, t: float = 0.0) -> tuple[float, float, float, float]:
    arms = by_arm(source.observe(t))
    canary, baseline = arms["canary"], arms["baseline"]
    return canary["requests"], canary["errors"], baseline["requests"], baseline["errors"]


def test_two_real_shop_instances_aggregate_per_arm(shops: Shops) -> None:
    flags = FakeFlags(lambda context: context["userId"].startswith("new"))
    first = shops.start("1.1.0", "errors", flags=flags, seed=11)
    second = shops.start("1.1.0", flags=flags)
    sent = {"new": 0, "old": 0}
    for shop, users in ((first, 30), (second, 20)):
        with client(shop) as http:
            for number in range(users):
                for variant in ("new", "old"):
                    http.post("/checkout", json=checkout_body(f"{variant}-{number}"))
                    sent[variant] += 1
                http.get("/products")  # another route: filtered out by match
    injected = first.app.state.telemetry.requests.labels(
        "/checkout", "POST", "500", "new", "1.1.0"
    )._value.get()
    with ScrapeSource(CHECKOUT, lambda: [first.url, second.url]) as source:
        arms = by_arm(source.observe(1.5))
    canary, baseline = arms["canary"], arms["baseline"]
    assert canary["t"] == baseline["t"] == 1.5
    assert (canary["requests"], baseline["requests"]) == (sent["new"], sent["old"]) == (50, 50)
    assert canary["errors"] == injected > 0
    assert baseline["errors"] == 0
    for observation in (canary, baseline):
        buckets = observation["latency_seconds_bucket"]
        assert buckets["+Inf"] == observation["requests"]
        assert list(buckets)[-1] == "+Inf"
        assert {"0.005", "0.05", "0.1", "1.0"} <= set(buckets)
        values = list(buckets.values())
        assert values == sorted(values)  # cumulative in le order
        assert observation["memory_bytes"] > 10_000_000
    assert canary["memory_bytes"] == baseline["memory_bytes"]


def test_without_match_every_route_counts(shops: Shops) -> None:
    shop = shops.start("1.0.0")
    with client(shop) as http:
        for _ in range(5):
            http.get("/products")
        http.post("/checkout", json=checkout_body())
    with ScrapeSource(ScrapeMetrics(), lambda: [shop.url]) as source:
        assert counts(source) == (0, 0, 6, 0)
    with ScrapeSource(ScrapeMetrics(match={"route": "/products"}), lambda: [shop.url]) as source:
        assert counts(source) == (0, 0, 5, 0)


def test_arm_labels_and_metric_names_come_from_the_config(exposition: Exposition) -> None:
    exposition.text = (
        "# TYPE reqs_total counter\n"
        'reqs_total{arm="b",code="503",svc="shop"} 4\n'
        'reqs_total{arm="b",code="200",svc="shop"} 6\n'
        'reqs_total{arm="a",code="200",svc="shop"} 9\n'
        'reqs_total{arm="a",code="200",svc="other"} 100\n'
        'reqs_total{arm="c",code="500",svc="shop"} 100\n'
    )
    config = ScrapeMetrics(
        requests_metric="reqs", status_label="code", arm_label="arm", canary="b",
        baseline="a", match={"svc": "shop"}, path="/custom",
    )  # fmt: skip
    with ScrapeSource(config, lambda: [exposition.url]) as source:
        assert counts(source) == (10, 4, 9, 0)


def test_a_counter_reset_keeps_totals_monotone(exposition: Exposition) -> None:
    with ScrapeSource(CHECKOUT, lambda: [exposition.url]) as source:
        exposition.counters(new_201=90, new_500=10, old_201=200)
        assert counts(source) == (100, 10, 200, 0)
        exposition.counters(new_201=140, new_500=12, old_201=260)
        assert counts(source) == (152, 12, 260, 0)
        # The instance restarted: every counter starts again from zero.
        exposition.counters(new_201=5, new_500=1, old_201=7)
        assert counts(source) == (158, 13, 267, 0)
        exposition.counters(new_201=25, new_500=1, old_201=17)
        assert counts(source) == (178, 13, 277, 0)


def test_a_restart_seen_only_through_the_start_time_is_a_reset(exposition: Exposition) -> None:
    with ScrapeSource(CHECKOUT, lambda: [exposition.url]) as source:
        exposition.counters(epoch=1000.0, old_201=100)
        assert counts(source) == (0, 0, 100, 0)
        # Restarted and already past its old value between two looks.
        exposition.counters(epoch=2000.0, old_201=130)
        assert counts(source) == (0, 0, 230, 0)
        exposition.counters(epoch=2000.0, old_201=150)
        assert counts(source) == (0, 0, 250, 0)


def test_a_restart_into_another_release_on_the_same_port(exposition: Exposition) -> None:
    with ScrapeSource(CHECKOUT, lambda: [exposition.url]) as source:
        exposition.counters(old_201=100)
        assert counts(source) == (0, 0, 100, 0)
        exposition.text = exposition.text.replace('release="1.1.0"', 'release="1.0.0"')
        exposition.text = exposition.text.replace("100", "3")
        assert counts(source) == (0, 0, 103, 0)


def test_a_real_shop_restarted_on_its_port(shops: Shops) -> None:
    shop = shops.start("1.0.0")
    port = shop.port
    with ScrapeSource(CHECKOUT, lambda: [f"http://127.0.0.1:{port}"]) as source:
        with client(shop) as http:
            for _ in range(8):
                http.post("/checkout", json=checkout_body())
        assert counts(source) == (0, 0, 8, 0)
        shop.stop()
        with pytest.raises(MetricsError):
            source.observe(1.0)  # down: no evidence, not zero
        restarted = shops.start("1.0.0", port=port)
        with client(restarted) as http:
            for _ in range(3):
                http.post("/checkout", json=checkout_body())
        arms = by_arm(source.observe(2.0))
    assert arms["baseline"]["requests"] == 11
    assert arms["baseline"]["latency_seconds_bucket"]["+Inf"] == 11


def test_an_instance_that_disappears_keeps_its_contribution(
    exposition: Exposition, second_exposition: Exposition
) -> None:
    live = [exposition.url, second_exposition.url]
    with ScrapeSource(CHECKOUT, lambda: list(live)) as source:
        exposition.counters(old_201=10, memory=100.0)
        second_exposition.counters(old_201=20, new_500=2, memory=300.0)
        arms = by_arm(source.observe(0.0))
        assert (arms["baseline"]["requests"], arms["canary"]["errors"]) == (30, 2)
        assert arms["canary"]["memory_bytes"] == arms["baseline"]["memory_bytes"] == 200.0
        live.remove(second_exposition.url)
        exposition.counters(old_201=15, memory=150.0)
        arms = by_arm(source.observe(1.0))
        assert (arms["baseline"]["requests"], arms["canary"]["errors"]) == (35, 2)
        assert arms["baseline"]["memory_bytes"] == 150.0


def test_a_failing_endpoint_is_skipped_for_the_look(
    exposition: Exposition, second_exposition: Exposition
) -> None:
    with ScrapeSource(CHECKOUT, lambda: [exposition.url, second_exposition.url]) as source:
        exposition.counters(old_201=10)
        second_exposition.counters(old_201=20)
        assert counts(source) == (0, 0, 30, 0)
        second_exposition.status = 503
        exposition.counters(old_201=12)
        assert counts(source) == (0, 0, 32, 0)
        assert source.skipped == [f"{second_exposition.url}: HTTP 503 from /metrics"]
        second_exposition.status = 200
        second_exposition.counters(old_201=25)
        assert counts(source) == (0, 0, 37, 0)
        assert source.skipped == []


def test_every_endpoint_down_is_a_metrics_error(exposition: Exposition) -> None:
    with free_socket() as sock:
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    exposition.text = "this is { not prometheus\n"
    source = ScrapeSource(CHECKOUT, lambda: [dead, exposition.url])
    with source, pytest.raises(MetricsError) as caught:
        source.observe(0.0)
    message = str(caught.value)
    assert message.startswith("every endpoint failed: ")
    assert f"{dead}: ConnectError" in message
    assert f"{exposition.url}: cannot parse the Prometheus text" in message


def test_no_endpoints_is_a_metrics_error() -> None:
    with ScrapeSource(CHECKOUT, list) as source, pytest.raises(MetricsError, match="no endpoints"):
        source.observe(0.0)


def test_a_slow_endpoint_times_out() -> None:
    with free_socket() as silent:
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        config = ScrapeMetrics(timeout=0.2)
        source = ScrapeSource(config, lambda: [url])
        with source, pytest.raises(MetricsError, match="ReadTimeout"):
            source.observe(0.0)


def test_a_client_passed_in_is_used_and_left_open(exposition: Exposition) -> None:
    exposition.counters(old_201=1)
    with httpx.Client() as http:
        source = ScrapeSource(CHECKOUT, lambda: [exposition.url + "/"], client=http)
        assert counts(source) == (0, 0, 1, 0)
        source.close()
        assert not http.is_closed
