"""``POST /api/client/metrics/bulk`` (Unleash Edge's forward of many SDKs) over HTTP.

unleash-server's OpenAPI lists it among the client endpoints; the protocol peer
check (bench/unleash_compare/peer.py) found rollsafe answering 404. Counts are read
back through the admin API; bad entries get 400 naming the entry and store nothing.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from rollsafe.flags import rollout_feature
from rollsafe.server import BackgroundServer
from rollsafe.store.sqlite import SqliteStore
from tests.server.servers import Tokens, bearer

APP = {
    "appName": "edge-app",
    "instanceId": "edge-1",
    "environment": "default",
    "sdkVersion": "unleash-edge:19.0.0",
    "strategies": ["default"],
    "started": "2026-12-05T01:00:00.000Z",
    "interval": 15000,
}


def entry(**extra: Any) -> dict[str, Any]:
    return {
        "featureName": "checkout",
        "appName": "edge-app",
        "environment": "default",
        "timestamp": "2026-12-05T01:00:10.000Z",
        "yes": 5,
        "no": 2,
        "variants": {"new": 3},
        **extra,
    }


def post(server: BackgroundServer, tokens: Tokens, body: Any) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/client/metrics/bulk", json=body, headers=bearer(tokens.client)
    )


def test_bulk_registers_applications_and_sums_entries_per_toggle(
    server: BackgroundServer, tokens: Tokens, api: httpx.Client, store: SqliteStore
) -> None:
    store.put_flag("checkout", rollout_feature("checkout", 50), actor="test")
    body = {"applications": [APP], "metrics": [entry(), entry(yes=1, no=0, variants={"new": 1})]}
    assert post(server, tokens, body).status_code == 202
    usage = api.get("/api/admin/metrics/flags/checkout").json()
    assert (usage["yes"], usage["no"], usage["variants"]) == (6, 2, {"new": 4})
    apps = api.get("/api/admin/status").json()["applications"]
    assert {(a["app_name"], a["sdk_version"]) for a in apps} >= {
        ("edge-app", "unleash-edge:19.0.0")
    }
    assert post(server, tokens, {"applications": [], "metrics": []}).status_code == 202


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metrics": {}}, "metrics"),
        ({"applications": "x"}, "applications"),
        ({"metrics": [entry(), 5]}, "metrics[1]"),
        ({"metrics": [entry(yes="7")]}, "metrics[0].bucket.toggles.checkout.yes"),
        ({"metrics": [entry(featureName="")]}, "metrics[0].featureName"),
        ({"metrics": [entry(appName=None)]}, "metrics[0].appName"),
        ({"applications": [{**APP, "interval": -1}]}, "applications[0].interval"),
        ({"metrics": [{}] * 10_001}, "metrics"),  # the count is checked before the entries
    ],
)
def test_a_bad_bulk_body_gets_400_naming_the_entry_and_stores_nothing(
    server: BackgroundServer, tokens: Tokens, store: SqliteStore, body: Any, field: str
) -> None:
    body = {"applications": [APP], **body} if "applications" not in body else body
    answer = post(server, tokens, body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["problems"][0]["field"] == field
    assert store.list_applications() == []
