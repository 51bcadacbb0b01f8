"""The OpenFeature provider: every flag type, errors by code, configuration-changed events."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from rollsafe.flags import rollout_feature
from rollsafe.sdk import FlagClient
from rollsafe.sdk.openfeature import RollsafeProvider
from rollsafe.server import BackgroundServer
from tests.server.servers import Tokens, eventually


def variant_flag(name: str, payload: dict[str, str] | None, enabled: bool = True) -> dict[str, Any]:
    variant: dict[str, Any] = {"name": f"{name}-v", "weight": 1000, "stickiness": "default"}
    if payload is not None:
        variant["payload"] = payload
    return {"name": name, "enabled": enabled, "strategies": [], "variants": [variant]}


FLAGS = {
    "version": 1,
    "features": [
        rollout_feature("checkout", 100),
        {
            "name": "beta",
            "enabled": True,
            "strategies": [
                {
                    "name": "default",
                    "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro"]}],
                }
            ],
        },
        variant_flag("banner", {"type": "string", "value": "Blue!"}),
        variant_flag("colour", None),
        variant_flag("ratio", {"type": "number", "value": "0.25"}),
        variant_flag("retries", {"type": "number", "value": "3"}),
        variant_flag("limits", {"type": "json", "value": '{"max": 5, "tiers": ["a"]}'}),
        variant_flag("dark", {"type": "string", "value": "x"}, enabled=False),
    ],
}


@pytest.fixture
def of_client() -> Iterator[Any]:
    provider = RollsafeProvider(FlagClient(bootstrap=FLAGS), own_client=True)
    api.set_provider_and_wait(provider, "rollsafe-tests")
    try:
        yield api.get_client("rollsafe-tests")
    finally:
        api.clear_providers()


def test_booleans_follow_targeting(of_client: Any) -> None:
    pro = EvaluationContext(targeting_key="alice", attributes={"plan": "pro"})
    free = EvaluationContext(targeting_key="alice", attributes={"plan": "free"})
    assert of_client.get_boolean_value("checkout", False, free) is True
    assert of_client.get_boolean_value("beta", False, pro) is True
    details = of_client.get_boolean_details("beta", True, free)
    assert (details.value, details.reason) == (False, Reason.DISABLED)


def test_strings_numbers_and_objects_come_from_variant_payloads(of_client: Any) -> None:
    context = EvaluationContext(targeting_key="alice")
    banner = of_client.get_string_details("banner", "none", context)
    assert (banner.value, banner.variant, banner.reason) == ("Blue!", "banner-v", "TARGETING_MATCH")
    assert of_client.get_string_value("colour", "none", context) == "colour-v"
    assert of_client.get_float_value("ratio", 1.0, context) == 0.25
    assert of_client.get_integer_value("retries", 0, context) == 3
    assert of_client.get_object_value("limits", {}, context) == {"max": 5, "tiers": ["a"]}


def test_off_unknown_and_mistyped_flags_give_the_default_with_a_reason(of_client: Any) -> None:
    dark = of_client.get_string_details("dark", "fallback")
    assert (dark.value, dark.reason) == ("fallback", Reason.DISABLED)
    missing = of_client.get_boolean_details("nope", True)
    assert (missing.value, missing.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
    mistyped = of_client.get_integer_details("banner", 7)
    assert (mistyped.value, mistyped.error_code) == (7, ErrorCode.TYPE_MISMATCH)
    fraction = of_client.get_integer_details("ratio", 7)
    assert (fraction.value, fraction.error_code) == (7, ErrorCode.TYPE_MISMATCH)


def test_changes_emit_configuration_changed_events(
    server: BackgroundServer, tokens: Tokens, api: httpx.Client
) -> None:
    from openfeature import api as openfeature

    client = FlagClient(server.url, tokens.client)
    provider = RollsafeProvider(client, ready_timeout=5, own_client=True)
    heard: list[EventDetails] = []
    changed = threading.Event()

    def handler(details: EventDetails) -> None:
        heard.append(details)
        changed.set()

    openfeature.set_provider_and_wait(provider, "rollsafe-events")
    of_client = openfeature.get_client("rollsafe-events")
    of_client.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, handler)
    try:
        assert client.ready
        assert of_client.get_boolean_value("checkout", False) is False
        api.put(
            "/api/admin/flags/checkout",
            json={"definition": rollout_feature("checkout", 100), "expected_version": 0},
        )
        assert changed.wait(5)
        assert heard[0].flags_changed == ["checkout"]
        assert heard[0].provider_name == "rollsafe"
        assert of_client.get_boolean_value("checkout", False) is True
    finally:
        of_client.remove_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, handler)
        openfeature.clear_providers()
    assert eventually(lambda: client.status == "stopped")
