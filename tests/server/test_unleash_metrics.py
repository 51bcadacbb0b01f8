"""``/api/client/register`` and ``/api/client/metrics`` as Unleash SDKs send them, over HTTP.

What they store is read back through ``/api/admin/status`` (connected
applications) and ``/api/admin/metrics/flags/{name}`` (toggle counts, impact
metrics). Bad bodies get 400 naming the field and store nothing.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from rollsafe.cli import app
from rollsafe.flags import rollout_feature
from rollsafe.server import BackgroundServer
from rollsafe.server.tokens import new_token
from rollsafe.store.records import TokenScope
from rollsafe.store.sqlite import SqliteStore
from tests.server.servers import Tokens, bearer

REGISTER = {
    "appName": "checkout-svc",
    "instanceId": "pod-1",
    "connectionId": "c0ffee",
    "sdkVersion": "unleash-client-node:6.12.2",
    "strategies": ["default", "flexibleRollout"],
    "started": "2026-12-05T01:00:00.000Z",
    "interval": 10000,
    "platformName": "node",
    "platformVersion": "22.1.0",
    "specVersion": "5.2.0",
}


def metrics_body(**extra: Any) -> dict[str, Any]:
    return {
        "appName": "checkout-svc",
        "instanceId": "pod-1",
        "bucket": {
            "start": "2026-12-05T01:00:00.000Z",
            "stop": "2026-12-05T01:00:10.000Z",
            "toggles": {
                "checkout": {"yes": 7, "no": 3, "variants": {"new": 4, "old": 3}},
            },
        },
        **extra,
    }


IMPACT = [
    {
        "name": "orders",
        "help": "orders placed",
        "type": "counter",
        "samples": [
            {"labels": {"appName": "checkout-svc", "checkout": "new"}, "value": 40},
            {"labels": {"appName": "checkout-svc", "checkout": "old"}, "value": 38},
        ],
    },
    {
        "name": "queue_depth",
        "help": "jobs waiting",
        "type": "gauge",
        "samples": [{"labels": {"checkout": "new"}, "value": 3.5}],
    },
    {
        "name": "checkout_seconds",
        "help": "checkout time",
        "type": "histogram",
        "samples": [
            {
                "labels": {"checkout": "new"},
                "count": 3,
                "sum": 0.9,
                "buckets": [
                    {"le": 0.1, "count": 1},
                    {"le": 0.5, "count": 3},
                    {"le": "+Inf", "count": 3},
                ],
            }
        ],
    },
]


def post(server: BackgroundServer, tokens: Tokens, path: str, body: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/api/client/{path}", json=body, headers=bearer(tokens.client))


def test_register_lists_the_instance_as_connected(
    server: BackgroundServer, tokens: Tokens, api: httpx.Client
) -> None:
    assert post(server, tokens, "register", REGISTER).status_code == 202
    status = api.get("/api/admin/status").json()
    [app] = status["applications"]
    assert app["app_name"] == "checkout-svc"
    assert app["instance_id"] == "pod-1"
    assert app["sdk_version"] == "unleash-client-node:6.12.2"
    assert app["strategies"] == ["default", "flexibleRollout"]
    assert app["started"] == "2026-12-05T01:00:00.000Z"
    assert app["interval_ms"] == 10000
    assert app["token"] == "shop"
    assert app["connected"] is True
    # Registering again updates the same instance, not a second one.
    assert post(server, tokens, "register", {**REGISTER, "sdkVersion": "x:2"}).status_code == 202
    [again] = api.get("/api/admin/status").json()["applications"]
    assert again["sdk_version"] == "x:2"
    assert again["last_seen"] >= app["last_seen"]


def test_metrics_add_up_per_toggle_and_variant(
    server: BackgroundServer, tokens: Tokens, api: httpx.Client, store: SqliteStore
) -> None:
    store.put_flag("checkout", rollout_feature("checkout", 50), actor="test")
    for _ in range(2):
        assert post(server, tokens, "metrics", metrics_body()).status_code == 202
    usage = api.get("/api/admin/metrics/flags/checkout").json()
    assert (usage["yes"], usage["no"], usage["variants"]) == (14, 6, {"new": 8, "old": 6})
    [app] = api.get("/api/admin/status").json()["applications"]
    assert app["app_name"] == "checkout-svc"  # metrics alone make an instance known


def test_impact_metrics_are_stored_per_series(
    server: BackgroundServer, tokens: Tokens, api: httpx.Client
) -> None:
    for _ in range(2):
        assert (
            post(server, tokens, "metrics", metrics_body(impactMetrics=IMPACT)).status_code == 202
        )
    series = {
        (m["name"], m["labels"].get("checkout")): m
        for m in api.get("/api/admin/metrics/flags/checkout").json()["impactMetrics"]
    }
    assert series["orders", "new"]["value"] == 80  # counters are deltas: summed
    assert series["orders", "old"]["value"] == 76
    assert series["queue_depth", "new"]["value"] == 3.5  # a gauge keeps its latest value
    histogram = series["checkout_seconds", "new"]
    assert (histogram["count"], histogram["sum"]) == (6, pytest.approx(1.8))
    assert histogram["buckets"] == {"0.1": 2, "0.5": 6, "+Inf": 6}
    only = api.get("/api/admin/metrics/impact", params={"metric": "orders"}).json()["metrics"]
    assert {m["labels"]["checkout"] for m in only} == {"new", "old"}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("register", {**REGISTER, "appName": 5}, "appName"),
        ("register", {k: v for k, v in REGISTER.items() if k != "appName"}, "appName"),
        ("register", {**REGISTER, "strategies": "default"}, "strategies"),
        ("register", {**REGISTER, "interval": -1}, "interval"),
        ("register", {**REGISTER, "started": "yesterday"}, "started"),
        ("register", [1, 2], "body"),
        ("metrics", {**metrics_body(), "bucket": []}, "bucket"),
        ("metrics", metrics_body(bucket={"toggles": {"a": {"yes": "7"}}}), "bucket.toggles.a.yes"),
        (
            "metrics",
            metrics_body(bucket={"toggles": {"a": {"yes": 2**60}}}),
            "bucket.toggles.a.yes",
        ),
        ("metrics", metrics_body(bucket={"toggles": {"a": {"no": -1}}}), "bucket.toggles.a.no"),
        ("metrics", metrics_body(bucket={"toggles": {"a": {"yes": 1.5}}}), "bucket.toggles.a.yes"),
        (
            "metrics",
            metrics_body(bucket={"toggles": {"a": {"variants": {"v": True}}}}),
            "bucket.toggles.a.variants.v",
        ),
        (
            "metrics",
            metrics_body(bucket={"toggles": {f"t{i}": {"yes": 1} for i in range(10_000)}}),
            "bucket.toggles",
        ),
        ("metrics", metrics_body(bucket={"stop": "soon", "toggles": {}}), "bucket.stop"),
        ("metrics", metrics_body(impactMetrics={"a": 1}), "impactMetrics"),
        (
            "metrics",
            metrics_body(impactMetrics=[{**IMPACT[0], "type": "summary"}]),
            "impactMetrics[0].type",
        ),
        (
            "metrics",
            metrics_body(impactMetrics=[{**IMPACT[0], "samples": [{"value": "x"}]}]),
            "impactMetrics[0].samples[0].value",
        ),
        (
            "metrics",
            metrics_body(
                impactMetrics=[
                    {
                        **IMPACT[2],
                        "samples": [{"count": 1, "sum": 1, "buckets": [{"le": "x", "count": 1}]}],
                    }
                ]
            ),
            "impactMetrics[0].samples[0].buckets[0].le",
        ),
        (
            "metrics",
            metrics_body(
                impactMetrics=[{**IMPACT[1], "samples": [{"labels": {"a": [1]}, "value": 1}]}]
            ),
            "impactMetrics[0].samples[0].labels.a",
        ),
    ],
)
def test_a_malformed_body_gets_400_naming_the_field_and_stores_nothing(
    server: BackgroundServer,
    tokens: Tokens,
    api: httpx.Client,
    store: SqliteStore,
    path: str,
    body: Any,
    field: str,
) -> None:
    answer = post(server, tokens, path, body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["problems"][0]["field"] == field
    assert answer.json()["message"].startswith(f"{field}: ")
    assert store.list_applications() == []
    assert store.impact_windows() == []


def test_a_body_that_is_not_json_gets_400(server: BackgroundServer, tokens: Tokens) -> None:
    answer = httpx.post(
        f"{server.url}/api/client/metrics", content=b"{nope", headers=bearer(tokens.client)
    )
    assert (answer.status_code, answer.json()["problems"][0]["field"]) == (400, "body")


def test_register_and_metrics_need_a_token(server: BackgroundServer) -> None:
    assert httpx.post(f"{server.url}/api/client/register", json=REGISTER).status_code == 401
    assert httpx.post(f"{server.url}/api/client/metrics", json=metrics_body()).status_code == 401


def test_flags_get_shows_what_sdks_reported(
    server: BackgroundServer, tokens: Tokens, store: SqliteStore, db: Any
) -> None:

    store.put_flag("checkout", rollout_feature("checkout", 50), actor="test")
    store.put_flag("quiet", rollout_feature("quiet", 50), actor="test")
    assert post(server, tokens, "metrics", metrics_body(impactMetrics=IMPACT)).status_code == 202

    def get(*args: str) -> dict[str, Any]:
        # In-process, as the console script runs the command (a subprocess takes seconds).
        result = CliRunner().invoke(app, ["--home", str(db.parent), "flags", "get", *args])
        assert result.exit_code == 0, result.output
        shown = json.loads(result.stdout)
        assert isinstance(shown, dict)
        return shown

    shown = get("checkout", "--json")
    assert shown["version"] == 1
    usage = shown["usage"]
    assert (usage["yes"], usage["no"], usage["variants"]) == (7, 3, {"new": 4, "old": 3})
    assert usage["applications"] == ["checkout-svc"]
    orders = {
        m["labels"]["checkout"]: m["value"] for m in usage["impactMetrics"] if m["name"] == "orders"
    }
    assert orders == {"new": 40, "old": 38}
    assert "usage" not in get("quiet")


def test_the_environment_is_the_tokens(
    server: BackgroundServer, tokens: Tokens, api: httpx.Client, store: SqliteStore
) -> None:

    store.create_environment("staging", actor="test")
    bound, record = new_token(
        "staging-sdk", TokenScope.CLIENT, environment="staging", created_by="t"
    )
    store.add_token(record, actor="test")
    # A bound token's environment wins over what the SDK says (Node sends "default").
    answer = httpx.post(
        f"{server.url}/api/client/metrics",
        json=metrics_body(environment="default"),
        headers=bearer(bound),
    )
    assert answer.status_code == 202
    staged = api.get("/api/admin/metrics/flags/checkout", params={"environment": "staging"})
    assert staged.json()["yes"] == 7
    assert api.get("/api/admin/metrics/flags/checkout").json()["yes"] == 0
    # A token for all environments takes the body's, which must exist.
    assert post(server, tokens, "metrics", metrics_body(environment="staging")).status_code == 202
    assert api.get(
        "/api/admin/metrics/flags/checkout", params={"environment": "staging"}
    ).json()["yes"] == 14  # fmt: skip
    refused = post(server, tokens, "metrics", metrics_body(environment="nowhere"))
    assert (refused.status_code, refused.json()["problems"][0]["field"]) == (400, "environment")
    [app] = api.get("/api/admin/status").json()["applications"]
    assert app["environment"] == "staging"
