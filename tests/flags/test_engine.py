"""Engine behaviour beyond the Unleash specification files: rollout properties, contexts,
variants as values, invalid documents, strict mode and `rollout_feature`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import mmh3
import pytest

from rollsafe.errors import FlagError
from rollsafe.flags import Engine, rollout_feature


def feature(name: str = "f", **fields: Any) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "name": name,
        "enabled": True,
        "strategies": [{"name": "default"}],
    }
    definition.update(fields)
    return definition


def engine_of(*features: dict[str, Any], **kwargs: Any) -> Engine:
    return Engine.from_unleash({"version": 1, "features": list(features)}, **kwargs)


def flexible(rollout: str, stickiness: str = "default", group: str = "g") -> dict[str, Any]:
    return {
        "name": "flexibleRollout",
        "parameters": {"rollout": rollout, "stickiness": stickiness, "groupId": group},
    }


USERS = [f"user-{i}" for i in range(4000)]


# -- gradual rollouts ---------------------------------------------------------------------


@pytest.mark.parametrize("rollout", [1, 10, 33, 50, 99])
def test_flexible_rollout_buckets_users_by_murmur3_of_group_and_id(rollout: int) -> None:
    engine = engine_of(feature(strategies=[flexible(str(rollout), "userId", "grp")]))
    for user in USERS[:500]:
        expected = mmh3.hash(f"grp:{user}", 0, signed=False) % 100 + 1 <= rollout
        assert engine.is_enabled("f", {"userId": user}) is expected


def test_rollout_share_is_close_to_the_percentage() -> None:
    engine = engine_of(feature(strategies=[flexible("25", "userId")]))
    share = sum(engine.is_enabled("f", {"userId": u}) for u in USERS) / len(USERS)
    assert 0.22 < share < 0.28


def test_raising_a_rollout_keeps_every_user_already_in() -> None:
    def enabled_at(rollout: int) -> set[str]:
        engine = Engine.from_unleash({"features": [rollout_feature("checkout", rollout)]})
        return {u for u in USERS if engine.is_enabled("checkout", {"userId": u})}

    at_10, at_25, at_50 = enabled_at(10), enabled_at(25), enabled_at(50)
    assert at_10 < at_25 < at_50


def test_default_stickiness_uses_user_then_session_and_is_stable() -> None:
    engine = engine_of(feature(strategies=[flexible("50")]))
    for user in USERS[:200]:
        by_user = engine.is_enabled("f", {"userId": user, "sessionId": "s"})
        assert engine.is_enabled("f", {"userId": user, "sessionId": "other"}) is by_user
        assert engine.is_enabled("f", {"sessionId": user}) is by_user


def test_random_stickiness_varies_between_calls() -> None:
    engine = engine_of(feature(strategies=[flexible("50", "random")]))
    outcomes = {engine.is_enabled("f", {"userId": "same-user"}) for _ in range(500)}
    assert outcomes == {True, False}


def test_default_stickiness_without_ids_falls_back_to_random() -> None:
    engine = engine_of(feature(strategies=[flexible("50")]))
    outcomes = [engine.is_enabled("f", {}) for _ in range(2000)]
    assert 800 < sum(outcomes) < 1200


def test_gradual_rollout_random_honours_its_percentage() -> None:
    engine = engine_of(
        feature(strategies=[{"name": "gradualRolloutRandom", "parameters": {"percentage": "20"}}])
    )
    share = sum(engine.is_enabled("f") for _ in range(5000)) / 5000
    assert 0.16 < share < 0.24


def test_custom_stickiness_reads_properties_and_is_off_without_the_field() -> None:
    engine = engine_of(feature(strategies=[flexible("100", "tenant")]))
    assert engine.is_enabled("f", {"properties": {"tenant": "acme"}})
    assert not engine.is_enabled("f", {"userId": "u1"})


# -- contexts -----------------------------------------------------------------------------


def test_non_string_context_values_compare_as_their_text() -> None:
    rollout = engine_of(feature(strategies=[flexible("50", "userId")]))
    for number in range(300):
        assert rollout.is_enabled("f", {"userId": number}) is rollout.is_enabled(
            "f", {"userId": str(number)}
        )
    listed = engine_of(
        feature(strategies=[{"name": "userWithId", "parameters": {"userIds": "7, 8"}}])
    )
    assert listed.is_enabled("f", {"userId": 8})
    assert not listed.is_enabled("f", {"userId": 9})


def test_standard_fields_may_come_from_properties() -> None:
    engine = engine_of(
        feature(strategies=[{"name": "userWithId", "parameters": {"userIds": "42"}}])
    )
    assert engine.is_enabled("f", {"properties": {"userId": "42"}})


@pytest.mark.parametrize(
    "context",
    [None, {}, {"properties": None}, {"properties": ["not", "a", "dict"]}, {"userId": None}],
)
def test_odd_contexts_evaluate_without_raising(context: Any) -> None:
    constrained = feature(
        strategies=[
            {
                **flexible("100", "userId"),
                "constraints": [{"contextName": "tier", "operator": "NOT_IN", "values": ["x"]}],
            }
        ]
    )
    engine = engine_of(constrained)
    assert engine.is_enabled("f", context) is False
    assert engine.get_variant("f", context)["name"] == "disabled"


def test_numeric_and_date_constraints_accept_native_python_values() -> None:
    engine = engine_of(
        feature(
            "num",
            strategies=[
                {
                    "name": "default",
                    "constraints": [{"contextName": "age", "operator": "NUM_GTE", "value": "18"}],
                }
            ],
        ),
        feature(
            "date",
            strategies=[
                {
                    "name": "default",
                    "constraints": [
                        {
                            "contextName": "currentTime",
                            "operator": "DATE_AFTER",
                            "value": "2022-01-01T00:00:00Z",
                        }
                    ],
                }
            ],
        ),
    )
    assert engine.is_enabled("num", {"properties": {"age": 18}})
    assert not engine.is_enabled("num", {"properties": {"age": 17.5}})
    assert not engine.is_enabled("num", {"properties": {"age": True}})
    assert engine.is_enabled("date", {"currentTime": dt.datetime(2023, 5, 1, tzinfo=dt.UTC)})
    assert not engine.is_enabled("date", {"currentTime": dt.datetime(2021, 5, 1)})
    assert engine.is_enabled("date", {}), "an absent currentTime means now"


def test_remote_address_strategy_accepts_cidr_ranges() -> None:
    engine = engine_of(
        feature(strategies=[{"name": "remoteAddress", "parameters": {"IPs": "10.0.0.0/8, ::1"}}])
    )
    assert engine.is_enabled("f", {"remoteAddress": "10.20.30.40"})
    assert engine.is_enabled("f", {"remoteAddress": "::1"})
    assert not engine.is_enabled("f", {"remoteAddress": "11.0.0.1"})
    assert not engine.is_enabled("f", {"remoteAddress": "not-an-ip"})


def test_application_hostname_compares_case_insensitively_with_the_configured_host() -> None:
    definition = feature(
        strategies=[{"name": "applicationHostname", "parameters": {"hostNames": "web-1, Web-2"}}]
    )
    assert engine_of(definition, hostname="WEB-2").is_enabled("f")
    assert not engine_of(definition, hostname="web-3").is_enabled("f")


# -- variants -----------------------------------------------------------------------------


def test_variant_weights_split_users_in_proportion() -> None:
    engine = engine_of(
        feature(
            variants=[
                {"name": "a", "weight": 750, "payload": {"type": "string", "value": "A"}},
                {"name": "b", "weight": 250},
            ]
        )
    )
    names = [engine.get_variant("f", {"userId": u})["name"] for u in USERS]
    assert 0.72 < names.count("a") / len(names) < 0.78
    assert engine.get_variant("f", {"userId": "u1"}) == engine.get_variant("f", {"userId": "u1"})


def test_variant_results_are_fresh_dicts() -> None:
    engine = engine_of(
        feature(variants=[{"name": "a", "weight": 1, "payload": {"type": "json", "value": "{}"}}])
    )
    first = engine.get_variant("f", {"userId": "u"})
    first["payload"]["value"] = "changed"
    first["name"] = "changed"
    assert engine.get_variant("f", {"userId": "u"}) == {
        "name": "a",
        "payload": {"type": "json", "value": "{}"},
        "enabled": True,
        "feature_enabled": True,
    }


def test_engine_does_not_share_state_with_the_input_document() -> None:
    definition = feature(variants=[{"name": "a", "weight": 1}])
    state = {"features": [definition]}
    engine = Engine.from_unleash(state)
    definition["enabled"] = False
    definition["variants"][0]["name"] = "mutated"
    assert engine.is_enabled("f")
    assert engine.get_variant("f")["name"] == "a"
    assert engine.to_unleash()["features"][0]["variants"][0]["name"] == "a"


def test_zero_total_weight_gives_the_disabled_variant_of_an_enabled_feature() -> None:
    engine = engine_of(feature(variants=[{"name": "a", "weight": 0}]))
    assert engine.get_variant("f") == {
        "name": "disabled",
        "enabled": False,
        "feature_enabled": True,
    }


# -- invalid documents --------------------------------------------------------------------


def constrained(**constraint: Any) -> dict[str, Any]:
    return feature("bad", strategies=[{"name": "default", "constraints": [constraint]}])


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ([], "document: (top level): expected an object, got array"),
        ({"version": 1}, "document: features: missing"),
        ({"features": {}}, "document: features: expected an array, got object"),
        (
            {"features": [feature("bad", enabled="yes")]},
            "feature 'bad': enabled: expected a boolean",
        ),
        ({"features": [{"name": "bad"}]}, "feature 'bad': enabled: missing"),
        ({"features": [feature(), feature()]}, "features[1].name: duplicate feature name 'f'"),
        (
            {"features": [constrained(contextName="a", operator="IN", values="x")]},
            "feature 'bad': strategies[0].constraints[0].values: expected an array, got string",
        ),
        (
            {"features": [constrained(contextName="a", operator=7, values=[])]},
            "feature 'bad': strategies[0].constraints[0].operator: expected a string, got number",
        ),
        (
            {"features": [constrained(operator="IN", values=[])]},
            "feature 'bad': strategies[0].constraints[0].contextName: expected a string, got null",
        ),
        (
            {"features": [constrained(contextName="a", operator="IN", values=[], inverted="no")]},
            "feature 'bad': strategies[0].constraints[0].inverted: expected a boolean",
        ),
        (
            {"features": [feature("bad", strategies=[flexible("lots")])]},
            "feature 'bad': strategies[0].parameters.rollout: expected a number, got 'lots'",
        ),
        (
            {"features": [feature("bad", strategies=[flexible("150")])]},
            "feature 'bad': strategies[0].parameters.rollout: must be between 0 and 100",
        ),
        (
            {"features": [feature("bad", variants=[{"name": "a", "weight": "1"}])]},
            "feature 'bad': variants[0].weight: expected an integer, got string",
        ),
        (
            {"features": [feature("bad", dependencies=[{"feature": 3}])]},
            "feature 'bad': dependencies[0].feature: expected a string, got number",
        ),
        (
            {"features": [], "segments": [{"id": "one", "constraints": []}]},
            "document: segments[0].id: expected an integer, got string",
        ),
        (
            {"features": [], "segments": [{"id": 1, "constraints": [{"contextName": "a"}]}]},
            "segment 1: constraints[0].operator: expected a string, got null",
        ),
        ({"events": []}, "use Engine.from_delta"),
    ],
)
def test_invalid_documents_raise_flag_error_naming_feature_and_field(
    state: Any, message: str
) -> None:
    with pytest.raises(FlagError) as raised:
        Engine.from_unleash(state)
    assert message in str(raised.value)


LENIENT_BUT_BROKEN = [
    constrained(contextName="a", operator="NOT_AN_OPERATOR", value="1"),
    constrained(contextName="a", operator="NOT_AN_OPERATOR", value="1", inverted=True),
    constrained(contextName="a", operator="REGEX", value="(unclosed"),
    constrained(contextName="a", operator="REGEX", value="(unclosed", inverted=True),
    constrained(contextName="a", operator="NUM_EQ", value="twelve"),
    constrained(contextName="a", operator="SEMVER_GT", value="v1.0.0"),
    constrained(contextName="a", operator="DATE_AFTER", value="yesterday"),
    constrained(contextName="a", operator="NUM_EQ"),
    feature("bad", strategies=[{"name": "myCustomStrategy", "parameters": {}}]),
    feature("bad", strategies=[{"name": "default", "segments": [404]}]),
]


@pytest.mark.parametrize("definition", LENIENT_BUT_BROKEN)
def test_definitions_that_cannot_be_evaluated_are_off_by_default(
    definition: dict[str, Any],
) -> None:
    engine = engine_of(definition)
    assert not engine.is_enabled("bad", {"properties": {"a": "1"}})


@pytest.mark.parametrize("definition", LENIENT_BUT_BROKEN)
def test_strict_mode_refuses_definitions_that_cannot_be_evaluated(
    definition: dict[str, Any],
) -> None:
    with pytest.raises(FlagError, match=r"^feature 'bad': strategies\[0\]"):
        engine_of(definition, strict=True)


def test_strict_mode_accepts_every_valid_operator_and_strategy() -> None:
    operators = {
        "IN": {"values": ["a"]},
        "NOT_IN": {"values": ["a"]},
        "STR_STARTS_WITH": {"values": ["a"]},
        "STR_ENDS_WITH": {"values": ["a"]},
        "STR_CONTAINS": {"values": ["a"]},
        "IN_CIDR": {"values": ["10.0.0.0/8"]},
        "NUM_EQ": {"value": "1"},
        "NUM_GT": {"value": 1},
        "NUM_GTE": {"value": "1.5"},
        "NUM_LT": {"value": "1"},
        "NUM_LTE": {"value": "1"},
        "DATE_AFTER": {"value": "2024-01-01T00:00:00Z"},
        "DATE_BEFORE": {"value": "2024-01-01T00:00:00+02:00"},
        "SEMVER_EQ": {"value": "1.2.3"},
        "SEMVER_GT": {"value": "1.2.3-rc.1"},
        "SEMVER_GTE": {"value": "1.2.3"},
        "SEMVER_LT": {"value": "1.2.3"},
        "SEMVER_LTE": {"value": "1.2.3"},
        "REGEX": {"value": "^[[:alpha:]]+$"},
    }
    strategies = [
        {"name": "default"},
        {"name": "userWithId", "parameters": {"userIds": "1"}},
        {"name": "gradualRolloutUserId", "parameters": {"percentage": "5", "groupId": "g"}},
        {"name": "gradualRolloutSessionId", "parameters": {"percentage": "5", "groupId": "g"}},
        {"name": "gradualRolloutRandom", "parameters": {"percentage": "5"}},
        flexible("5"),
        {"name": "remoteAddress", "parameters": {"IPs": "127.0.0.1"}},
        {"name": "applicationHostname", "parameters": {"hostNames": "h"}},
    ]
    features = [
        constrained(contextName="a", operator=name, **fields) | {"name": name}
        for name, fields in operators.items()
    ]
    features.append(feature("strategies", strategies=strategies))
    engine = engine_of(*features, strict=True)
    assert len(engine) == len(operators) + 1


# -- rollout_feature ----------------------------------------------------------------------


def test_rollout_feature_builds_one_flexible_rollout_strategy() -> None:
    assert rollout_feature("new-checkout", 12.5, description="d") == {
        "name": "new-checkout",
        "description": "d",
        "enabled": True,
        "strategies": [
            {
                "name": "flexibleRollout",
                "parameters": {
                    "rollout": "12.5",
                    "stickiness": "default",
                    "groupId": "new-checkout",
                },
                "constraints": [],
            }
        ],
        "variants": [],
    }
    assert rollout_feature("x", 10.0)["strategies"][0]["parameters"]["rollout"] == "10"


def test_rollout_feature_limits_evaluate_as_expected() -> None:
    engine = Engine.from_unleash(
        {
            "features": [
                rollout_feature("none", 0),
                rollout_feature("all", 100),
                rollout_feature("off", 100, enabled=False),
            ]
        },
        strict=True,
    )
    for user in USERS[:300]:
        assert not engine.is_enabled("none", {"userId": user})
        assert engine.is_enabled("all", {"userId": user})
        assert not engine.is_enabled("off", {"userId": user})


@pytest.mark.parametrize(
    ("name", "rollout"), [("", 10), ("x", -1), ("x", 100.5), ("x", float("nan")), ("x", True)]
)
def test_rollout_feature_refuses_bad_input(name: str, rollout: float) -> None:
    with pytest.raises(FlagError):
        rollout_feature(name, rollout)


# -- inspection ---------------------------------------------------------------------------


def test_to_unleash_round_trips() -> None:
    state = {
        "version": 1,
        "features": [rollout_feature("a", 30), feature("b", strategies=[])],
        "segments": [{"id": 1, "constraints": []}],
    }
    engine = Engine.from_unleash(state)
    assert engine.to_unleash() == state
    assert engine.feature_names() == ["a", "b"]
    assert "a" in engine
    assert "zzz" not in engine
