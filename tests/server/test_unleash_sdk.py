"""The official Python SDK (``UnleashClient`` from PyPI) against a real ``rollsafe server``.

It registers, fetches, evaluates, sends metrics and impact metrics, and streams,
exactly as against Unleash: every call it makes must be accepted (its logger
warns on any refused register, metrics or fetch), what it counted must be what
the server stored, and its evaluations must match rollsafe's engine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from UnleashClient import UnleashClient
from UnleashClient.cache import FileCache
from UnleashClient.impact_metrics import MetricFlagContext

from rollsafe.flags import Engine, rollout_feature
from rollsafe.server import BackgroundServer
from rollsafe.store.sqlite import SqliteStore
from tests.server.servers import Tokens, bearer, eventually

CONTEXTS = 1000


def with_variants(name: str, rollout: int) -> dict[str, Any]:
    feature = rollout_feature(name, rollout)
    feature["strategies"][0]["variants"] = [
        {"name": "new", "weight": 500, "weightType": "variable", "stickiness": "default",
         "payload": {"type": "string", "value": "fast path"}},
        {"name": "old", "weight": 500, "weightType": "variable", "stickiness": "default"},
    ]  # fmt: skip
    return feature


FLAGS = {
    "checkout": with_variants("checkout", 60),
    "search": rollout_feature("search", 25),
    "dark": rollout_feature("dark", 100, enabled=False),
}


@pytest.fixture
def flags(store: SqliteStore) -> dict[str, Any]:
    store.put_flags(FLAGS, actor="test")
    return FLAGS


@pytest.fixture
def sdk_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[list[logging.LogRecord]]:
    caplog.set_level(logging.WARNING, logger="UnleashClient")
    records: list[logging.LogRecord] = []
    yield records
    records.extend(r for r in caplog.records if r.name.startswith("UnleashClient"))


def client(
    server: BackgroundServer, tokens: Tokens, tmp_path: Path, **options: Any
) -> UnleashClient:
    sdk = UnleashClient(
        url=f"{server.url}/api",
        app_name="py-checkout",
        instance_id=options.pop("instance_id", "pod-1"),
        custom_headers={"Authorization": tokens.client},
        refresh_interval=1,
        metrics_interval=1,
        cache=FileCache("rollsafe-test", directory=str(tmp_path / "sdk-cache")),
        **options,
    )
    sdk.initialize_client()
    return sdk


def test_the_sdk_registers_sends_metrics_and_evaluates_like_the_engine(
    server: BackgroundServer,
    tokens: Tokens,
    tmp_path: Path,
    flags: dict[str, Any],
    api: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    document = httpx.get(f"{server.url}/api/client/features", headers=bearer(tokens.client)).json()
    engine = Engine.from_unleash(document)
    sdk = client(server, tokens, tmp_path)
    impact = sdk.impact_metrics
    impact.define_counter("orders", "orders placed")
    impact.define_histogram("checkout_seconds", "time to check out", [0.1, 0.5, 1.0])
    orders: dict[str, int] = {}
    try:
        assert eventually(lambda: sdk.is_enabled("dark") is False and sdk.is_initialized, 10)
        assert eventually(lambda: sdk.is_enabled("checkout", {"userId": "probe"}) is not None, 10)
        for i in range(CONTEXTS):
            context = {"userId": f"user-{i}", "sessionId": f"s-{i}"}
            for name in flags:
                assert sdk.is_enabled(name, context) == engine.is_enabled(name, context), (name, i)
            theirs, ours = (
                sdk.get_variant("checkout", context),
                engine.get_variant("checkout", context),
            )
            assert (theirs["name"], theirs["enabled"]) == (ours["name"], ours["enabled"]), i
            arm = ours["name"]  # the SDK's label: the variant, or "disabled"
            orders[arm] = orders.get(arm, 0) + 1
            flag_context = MetricFlagContext(["checkout"], context)
            impact.increment_counter("orders", 1, flag_context)
            impact.observe_histogram("checkout_seconds", 0.2, flag_context)
    finally:
        sdk.destroy()  # flushes the last metrics
    refused = [
        r
        for r in caplog.records
        if r.name.startswith("UnleashClient") and r.levelno >= logging.WARNING
    ]
    assert refused == [], [r.getMessage() for r in refused]

    usage = api.get("/api/admin/metrics/flags/checkout").json()
    # Each get_variant counts its variant ("disabled" when the flag is off for the user)...
    assert usage["variants"] == orders
    # ...and, like each is_enabled, a yes or a no: two looks per context. (The SDK's engine
    # has been seen to count one look more than was made; the server adds what it is sent.)
    assert 2 * CONTEXTS <= usage["yes"] + usage["no"] <= 2 * CONTEXTS + 2
    assert usage["yes"] >= 2 * (orders["new"] + orders["old"])
    series = {(m["name"], m["labels"]["checkout"]): m for m in usage["impactMetrics"]}
    assert {arm: series["orders", arm]["value"] for arm in orders} == orders
    assert series["checkout_seconds", "new"]["count"] == orders["new"]
    assert series["checkout_seconds", "new"]["buckets"]["0.5"] == orders["new"]
    assert series["checkout_seconds", "new"]["buckets"]["0.1"] == 0
    [app] = api.get("/api/admin/status").json()["applications"]
    assert app["app_name"] == "py-checkout"
    assert app["sdk_version"].startswith("unleash-python-sdk:")
    assert isinstance(app["strategies"], list)  # this SDK lists only custom strategies
    assert app["connected"] is True


def test_the_sdk_streams_and_hears_a_kill(
    server: BackgroundServer,
    tokens: Tokens,
    tmp_path: Path,
    flags: dict[str, Any],
    api: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    del flags
    caplog.set_level(logging.WARNING)
    sdk = client(
        server, tokens, tmp_path, instance_id="pod-2", experimental_mode={"type": "streaming"}
    )
    try:
        everyone = {"userId": "u1"}
        engine = Engine.from_unleash({"version": 1, "features": list(FLAGS.values())})
        chosen = next(
            {"userId": f"u{i}"}
            for i in range(100)
            if engine.is_enabled("checkout", {"userId": f"u{i}"})
        )
        # The state comes with the stream's first event (unleash-connected).
        assert eventually(lambda: sdk.is_enabled("checkout", chosen), 10)
        assert sdk.get_variant("checkout", chosen) == engine.get_variant("checkout", chosen)
        api.put(
            "/api/admin/flags/search",
            json={"definition": rollout_feature("search", 100), "expected_version": 1},
        ).raise_for_status()
        started = time.monotonic()
        assert eventually(lambda: sdk.is_enabled("search", everyone), 10)
        api.post("/api/admin/flags/search/kill").raise_for_status()
        assert eventually(lambda: not sdk.is_enabled("search", everyone), 10)
        # Streamed, not polled: well within the 1 s refresh interval a poll would need twice.
        assert time.monotonic() - started < 1.5
        streams = api.get("/api/admin/status").json()["streams"]
        assert streams == 1
    finally:
        sdk.destroy()
    refused = [
        r
        for r in caplog.records
        if r.name.startswith("UnleashClient") and r.levelno >= logging.WARNING
    ]
    assert refused == [], [r.getMessage() for r in refused]
