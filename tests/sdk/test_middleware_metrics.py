"""The middleware's parts without a server: bounded metrics, the header, the notebook, imports."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from rollsafe.sdk import variants
from rollsafe.sdk.requestmetrics import BUCKETS, OVERFLOW, RequestMetrics
from tests.sdk.middleware_support import CHECKOUT, flags


def samples(metrics: RequestMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_distinct_variants_beyond_the_cap_count_under_one_overflow_series() -> None:
    metrics = RequestMetrics(max_variants=3)
    for i in range(1000):
        metrics.record({f"flag-{i}": "on"}, 200, 0.01)
    metrics.record({}, 200, 0.01)
    found = samples(metrics)
    flags_seen = {dict(labels)["flag"] for name, labels in found if name == "http_requests_total"}
    assert flags_seen == {"flag-0", "flag-1", "flag-2", OVERFLOW[0], ""}
    overflow = (("flag", OVERFLOW[0]), ("status", "200"), ("variant", OVERFLOW[1]))
    assert found["http_requests_total", overflow] == 997
    size = len(metrics.exposition())
    for i in range(1000, 5000):  # more new pairs: the exposition does not grow
        metrics.record({f"flag-{i}": "on", "x" * 10_000: "y" * 10_000}, 503, 0.01)
    assert len(metrics.exposition()) < size + 1000


def test_latency_lands_in_fixed_cumulative_buckets() -> None:
    metrics = RequestMetrics()
    for seconds in (0.0005, 0.001, 0.004, 0.3, 7.0):
        metrics.record({CHECKOUT: "off"}, 200, seconds)
    found = samples(metrics)
    labels = (("flag", CHECKOUT), ("variant", "off"))
    bucket = {
        dict(lab)["le"]: value
        for (name, lab), value in found.items()
        if name == "http_request_duration_seconds_bucket"
    }
    assert len(bucket) == len(BUCKETS) + 1
    assert (bucket["0.001"], bucket["0.005"], bucket["0.3"], bucket["2.5"]) == (2, 3, 4, 4)
    assert bucket["+Inf"] == found["http_request_duration_seconds_count", labels] == 5
    assert found["http_request_duration_seconds_sum", labels] == pytest.approx(7.3055)


def test_odd_statuses_are_one_label_value() -> None:
    metrics = RequestMetrics()
    for status in (0, 42, 600, 99999):
        metrics.record({}, status, 0.0)
    statuses = {
        dict(lab).get("status") for name, lab in samples(metrics) if name == "http_requests_total"
    }
    assert statuses == {"0"}


def test_an_application_registry_serves_its_own_metrics_beside() -> None:
    registry = CollectorRegistry()
    Counter("orders", "Orders placed.", registry=registry).inc(3)
    metrics = RequestMetrics(registry=registry, release="9.9.9")
    metrics.record({CHECKOUT: "on"}, 201, 0.02)
    found = samples(metrics)
    assert found["orders_total", ()] == 3
    key = (("flag", CHECKOUT), ("release", "9.9.9"), ("status", "201"), ("variant", "on"))
    assert found["http_requests_total", key] == 1


def test_the_header_escapes_what_would_break_a_pair_and_stays_short() -> None:
    assert variants.header_value({"a,b": "x=y", "ü": "on"}) == "a%2Cb=x%3Dy, %C3%BC=on"
    many = {f"flag-{i:03}": "variant-" + "v" * 20 for i in range(200)}
    value = variants.header_value(many)
    assert len(value) <= variants.MAX_HEADER_BYTES
    assert value.startswith("flag-000=")
    assert value.count("=") > 10


def test_nothing_is_noted_outside_a_request_and_notes_are_per_request() -> None:
    client = flags()
    client.is_enabled(CHECKOUT, {"userId": "u1"})  # no notebook open: nothing happens
    with variants.noting() as outer:
        client.is_enabled(CHECKOUT, {"userId": "u1"})
        with variants.noting() as inner:
            client.get_variant("colour", {"userId": "u1"})
    assert set(outer) == {CHECKOUT}
    assert set(inner) == {"colour"}

    async def request(user: str) -> dict[str, str]:
        with variants.noting() as notes:
            await asyncio.sleep(0.01)
            client.is_enabled(f"flag-of-{user}")
            await asyncio.sleep(0.01)
            return notes

    async def concurrently() -> list[dict[str, str]]:
        return await asyncio.gather(*(request(f"u{i}") for i in range(20)))

    results = asyncio.run(concurrently())
    assert results == [{f"flag-of-u{i}": "off"} for i in range(20)]


def test_at_most_max_noted_flags_per_request() -> None:
    client = flags()
    with variants.noting() as notes:
        for i in range(variants.MAX_NOTED + 50):
            client.is_enabled(f"f{i}")
        client.is_enabled("f0", default=True)  # already noted: updated
    assert len(notes) == variants.MAX_NOTED
    assert notes["f0"] == "on"


def test_importing_the_sdk_and_its_middleware_imports_no_web_framework() -> None:
    code = (
        "import sys, rollsafe.sdk, rollsafe.sdk.middleware\n"
        "heavy = {'fastapi', 'starlette', 'flask', 'django', 'werkzeug', 'uvicorn'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_a_bad_option_is_refused() -> None:
    from rollsafe.sdk.middleware import RollsafeMiddleware

    async def app(scope: object, receive: object, send: object) -> None:
        pass

    with pytest.raises(ValueError, match="metrics_path"):
        RollsafeMiddleware(app, metrics_path="metrics")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="variant_header"):
        RollsafeMiddleware(app, variant_header="X Bad")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_variants"):
        RollsafeMiddleware(app, max_variants=0)  # type: ignore[arg-type]


def test_openfeature_evaluations_are_noted_too() -> None:
    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext

    from rollsafe.sdk.openfeature import RollsafeProvider

    client = flags()
    api.set_provider_and_wait(RollsafeProvider(client), "rollsafe-middleware-tests")
    try:
        of_client = api.get_client("rollsafe-middleware-tests")
        context = EvaluationContext(targeting_key="u7")
        with variants.noting() as notes:
            enabled = of_client.get_boolean_value(CHECKOUT, False, context)
            colour = of_client.get_string_details("colour", "none", context).variant
    finally:
        api.clear_providers()
    assert notes == {CHECKOUT: "on" if enabled else "off", "colour": colour}
    assert colour == client.get_variant("colour", {"userId": "u7"})["name"]


def test_a_request_cancelled_before_answering_counts_as_a_client_abort_not_a_5xx() -> None:
    from rollsafe.sdk.middleware import RollsafeMiddleware

    client = flags()
    sent: list[dict[str, object]] = []

    async def app(scope: object, receive: object, send: object) -> None:
        client.is_enabled(CHECKOUT, {"userId": "u1"})
        await asyncio.sleep(30)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async def receive() -> dict[str, object]:
        return {"type": "http.request"}

    middleware = RollsafeMiddleware(app)  # type: ignore[arg-type]
    scope = {"type": "http", "method": "GET", "path": "/slow", "headers": []}

    async def cancelled() -> None:
        request = asyncio.create_task(middleware(scope, receive, send))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request

    asyncio.run(cancelled())
    assert sent == []  # nobody to answer
    variant = "on" if client.is_enabled(CHECKOUT, {"userId": "u1"}) else "off"
    found = samples(middleware.metrics)
    key = (("flag", CHECKOUT), ("status", "499"), ("variant", variant))
    assert found["http_requests_total", key] == 1
