"""OFREP over real HTTP against a real server on loopback, and through the OpenFeature SDK."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openfeature import api as openfeature_api
from openfeature.client import OpenFeatureClient
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from rollsafe.server import BackgroundServer
from rollsafe.server.tokens import new_token
from rollsafe.store.records import TokenScope
from rollsafe.store.sqlite import SqliteStore
from tests.server.servers import Tokens, bearer

EVALUATE = "/ofrep/v1/evaluate/flags"

FLAGS: dict[str, dict[str, Any]] = {
    "kill-switch": {"enabled": False, "strategies": []},
    "banner": {"enabled": True, "strategies": [{"name": "default"}]},
    "gold-only": {
        "enabled": True,
        "strategies": [
            {
                "name": "default",
                "constraints": [{"contextName": "tier", "operator": "IN", "values": ["gold"]}],
            }
        ],
    },
    "half": {
        "enabled": True,
        "strategies": [
            {"name": "flexibleRollout", "parameters": {"rollout": "50", "stickiness": "default"}}
        ],
    },
    "color": {
        "enabled": True,
        "strategies": [],
        "variants": [
            {"name": "red", "weight": 500, "payload": {"type": "string", "value": "#f00"}},
            {"name": "blue", "weight": 500, "payload": {"type": "string", "value": "#00f"}},
        ],
    },
    "limit": {
        "enabled": True,
        "strategies": [],
        "variants": [{"name": "ten", "weight": 1000, "payload": {"type": "number", "value": "10"}}],
    },
    "ratio": {
        "enabled": True,
        "strategies": [],
        "variants": [{"name": "r", "weight": 1000, "payload": {"type": "number", "value": "0.25"}}],
    },
    "layout": {
        "enabled": True,
        "strategies": [],
        "variants": [
            {"name": "grid", "weight": 1000, "payload": {"type": "json", "value": '{"cols": 3}'}}
        ],
    },
    "mixed": {
        "enabled": True,
        "strategies": [],
        "variants": [
            {"name": "a", "weight": 1, "payload": {"type": "string", "value": "x"}},
            {"name": "b", "weight": 1, "payload": {"type": "number", "value": "1"}},
        ],
    },
    "broken-json": {
        "enabled": True,
        "strategies": [],
        "variants": [{"name": "a", "weight": 1, "payload": {"type": "json", "value": "{oops"}}],
    },
}


@pytest.fixture
def flags(api: httpx.Client) -> httpx.Client:
    for name, definition in FLAGS.items():
        api.put(
            f"/api/admin/flags/{name}", json={"definition": definition, "expected_version": 0}
        ).raise_for_status()
    return api


@pytest.fixture
def ofrep(server: BackgroundServer, tokens: Tokens, flags: httpx.Client) -> Iterator[httpx.Client]:
    del flags
    with httpx.Client(base_url=server.url, headers=bearer(tokens.client), timeout=5) as client:
        yield client


def evaluate(client: httpx.Client, key: str, context: dict[str, Any] | None = None) -> Any:
    return client.post(f"{EVALUATE}/{key}", json={} if context is None else {"context": context})


def test_each_type_and_reason_over_http(ofrep: httpx.Client) -> None:
    user = {"targetingKey": "user-7"}
    assert evaluate(ofrep, "banner").json() == {
        "key": "banner", "reason": "STATIC", "variant": "on", "value": True,
    }  # fmt: skip
    assert evaluate(ofrep, "kill-switch").json()["reason"] == "DISABLED"
    assert evaluate(ofrep, "kill-switch").json()["value"] is False
    gold = evaluate(ofrep, "gold-only", {**user, "tier": "gold"}).json()
    assert (gold["value"], gold["reason"]) == (True, "TARGETING_MATCH")
    tin = evaluate(ofrep, "gold-only", {**user, "tier": "tin"}).json()
    assert (tin["value"], tin["reason"]) == (False, "DEFAULT")
    halves = {
        evaluate(ofrep, "half", {"targetingKey": f"u{i}"}).json()["reason"] for i in range(40)
    }
    assert halves == {"SPLIT", "DEFAULT"}
    color = evaluate(ofrep, "color", user).json()
    assert color["reason"] == "SPLIT"
    assert color["value"] == {"red": "#f00", "blue": "#00f"}[color["variant"]]
    assert evaluate(ofrep, "limit").json()["value"] == 10
    assert evaluate(ofrep, "ratio").json()["value"] == 0.25
    assert evaluate(ofrep, "layout").json()["value"] == {"cols": 3}


@pytest.mark.parametrize(
    ("key", "body", "status", "code"),
    [
        ("missing", {}, 404, "FLAG_NOT_FOUND"),
        ("mixed", {}, 400, "TYPE_MISMATCH"),
        ("broken-json", {}, 400, "PARSE_ERROR"),
        ("half", {}, 400, "TARGETING_KEY_MISSING"),
        ("banner", {"context": {"tier": {"nested": 1}}}, 400, "INVALID_CONTEXT"),
        ("banner", {"context": "everyone"}, 400, "INVALID_CONTEXT"),
        ("banner", b'{"context": ', 400, "PARSE_ERROR"),
        ("banner", b"[1]", 400, "PARSE_ERROR"),
    ],
)
def test_error_codes_name_the_flag_and_the_problem(
    ofrep: httpx.Client, key: str, body: Any, status: int, code: str
) -> None:
    url = f"{EVALUATE}/{key}"
    if isinstance(body, bytes):
        response = ofrep.post(url, content=body, headers={"Content-Type": "application/json"})
    else:
        response = ofrep.post(url, json=body)
    assert response.status_code == status
    assert response.json()["key"] == key
    assert response.json()["errorCode"] == code
    assert response.json()["errorDetails"]


def test_bulk_evaluation_with_etag_and_304(ofrep: httpx.Client, api: httpx.Client) -> None:
    context = {"context": {"targetingKey": "user-1", "tier": "gold"}}
    first = ofrep.post(EVALUATE, json=context)
    assert first.status_code == 200
    by_key = {item["key"]: item for item in first.json()["flags"]}
    assert set(by_key) == set(FLAGS)
    assert by_key["gold-only"]["value"] is True
    assert by_key["mixed"]["errorCode"] == "TYPE_MISMATCH"
    etag = first.headers["etag"]
    again = ofrep.post(EVALUATE, json=context, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["etag"] == etag
    other = ofrep.post(EVALUATE, json={"context": {"targetingKey": "user-1", "tier": "tin"}},
                       headers={"If-None-Match": etag})  # fmt: skip
    assert other.status_code == 200  # another context gets another answer
    api.post("/api/admin/flags/banner/kill").raise_for_status()
    changed = ofrep.post(EVALUATE, json=context, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert {i["key"]: i for i in changed.json()["flags"]}["banner"]["reason"] == "DISABLED"
    bad = ofrep.post(EVALUATE, json={"context": {"a": [1]}})
    assert bad.status_code == 400
    assert bad.json()["errorCode"] == "INVALID_CONTEXT"
    assert "context.a" in bad.json()["errorDetails"]


def test_the_client_api_tokens_guard_ofrep(
    server: BackgroundServer, tokens: Tokens, flags: httpx.Client, db: Any
) -> None:
    del flags
    url = f"{server.url}{EVALUATE}/banner"
    assert httpx.post(url, json={}).status_code == 401
    assert httpx.post(url, json={}, headers=bearer("rs_abc.wrong")).status_code == 401
    assert httpx.post(url, json={}, headers={"X-API-Key": tokens.client}).status_code == 200
    store = SqliteStore(db)
    try:
        store.create_environment("staging", actor="test")
        staging, record = new_token("s", TokenScope.CLIENT, environment="staging", created_by="t")
        store.add_token(record, actor="test")
    finally:
        store.close()
    # A token bound to another environment sees that environment (no flags there) ...
    assert httpx.post(url, json={}, headers=bearer(staging)).status_code == 404
    # ... and may not ask for this one.
    denied = httpx.post(f"{url}?environment=default", json={}, headers=bearer(staging))
    assert denied.status_code == 403
    configuration = httpx.get(f"{server.url}/ofrep/v1/configuration", headers=bearer(tokens.client))
    assert configuration.json()["capabilities"]["cacheInvalidation"]["polling"]["enabled"]


@pytest.fixture
def openfeature(
    server: BackgroundServer, tokens: Tokens, flags: httpx.Client
) -> Iterator[OpenFeatureClient]:
    del flags
    domain = f"ofrep-{uuid.uuid4().hex}"
    provider = OFREPProvider(server.url, headers_factory=lambda: bearer(tokens.client))
    openfeature_api.set_provider(provider, domain)
    try:
        yield openfeature_api.get_client(domain)
    finally:
        provider.shutdown()
        provider.session.close()


def test_the_openfeature_sdk_with_its_ofrep_provider(openfeature: OpenFeatureClient) -> None:
    user = EvaluationContext(targeting_key="user-3", attributes={"tier": "gold"})
    assert openfeature.get_boolean_value("banner", False) is True
    assert openfeature.get_boolean_value("gold-only", False, user) is True
    details = openfeature.get_boolean_details("kill-switch", True)
    assert (details.value, details.reason) == (False, Reason.DISABLED)
    assert openfeature.get_string_value("color", "none", user) in ("#f00", "#00f")
    assert openfeature.get_integer_value("limit", 0) == 10
    assert openfeature.get_float_value("ratio", 0.0) == 0.25
    assert openfeature.get_object_value("layout", {}) == {"cols": 3}
    missing = openfeature.get_boolean_details("missing", True)
    assert (missing.value, missing.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
    keyless = openfeature.get_boolean_details("half", True)
    assert (keyless.value, keyless.error_code) == (True, ErrorCode.TARGETING_KEY_MISSING)
    wrong = openfeature.get_integer_details("color", 5, user)
    assert (wrong.value, wrong.error_code) == (5, ErrorCode.TYPE_MISMATCH)
