"""OpenFeature resolutions of Unleash flags: types from payloads, reasons, error codes."""

from __future__ import annotations

from typing import Any

import pytest

from rollsafe.flags import Engine
from rollsafe.flags.resolution import (
    NO_VALUE,
    ContextError,
    ErrorCode,
    Kind,
    Reason,
    Resolver,
    context_of,
)


def variant(name: str, weight: int, kind: str | None = None, value: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "weight": weight}
    if kind is not None:
        out["payload"] = {"type": kind, "value": value}
    return out


def flag(name: str, enabled: bool = True, strategies: Any = (), variants: Any = ()) -> Any:
    return {
        "name": name,
        "enabled": enabled,
        "strategies": list(strategies),
        "variants": list(variants),
    }


DEFAULT = {"name": "default"}
GOLD = {
    "name": "default",
    "constraints": [{"contextName": "tier", "operator": "IN", "values": ["gold"]}],
}
HALF = {
    "name": "flexibleRollout",
    "parameters": {"rollout": "50", "stickiness": "default", "groupId": "g"},
}


def resolver(*features: Any) -> Resolver:
    return Resolver.from_features(features)


def test_a_flag_without_payloads_is_a_boolean_static_when_nothing_can_change_it() -> None:
    r = resolver(flag("on", strategies=[DEFAULT]), flag("bare"), flag("off", enabled=False))
    assert r.kind("on") is Kind.BOOLEAN
    on = r.resolve("on", {})
    assert (on.value, on.reason, on.variant) == (True, Reason.STATIC, "on")
    assert r.resolve("bare", {}).reason is Reason.STATIC
    off = r.resolve("off", {"userId": "u"})
    assert (off.value, off.reason, off.variant) == (False, Reason.DISABLED, "off")


def test_constraints_give_targeting_match_or_default() -> None:
    r = resolver(flag("gold", strategies=[GOLD]))
    hit = r.resolve("gold", context_of({"targetingKey": "u", "tier": "gold"}))
    miss = r.resolve("gold", context_of({"targetingKey": "u", "tier": "tin"}))
    assert (hit.value, hit.reason) == (True, Reason.TARGETING_MATCH)
    assert (miss.value, miss.reason) == (False, Reason.DEFAULT)


def test_a_rollout_is_a_split_that_agrees_with_the_engine() -> None:
    features = [flag("half", strategies=[HALF])]
    r = resolver(*features)
    engine = Engine.from_unleash({"version": 1, "features": features})
    seen = set()
    for index in range(200):
        context = context_of({"targetingKey": f"user-{index}"})
        result = r.resolve("half", context)
        assert result.value is engine.is_enabled("half", context)
        seen.add((result.value, result.reason))
    assert seen == {(True, Reason.SPLIT), (False, Reason.DEFAULT)}


def test_payload_types_give_string_number_and_object_values() -> None:
    r = resolver(
        flag("s", variants=[variant("a", 1, "string", "A")]),
        flag("csv", variants=[variant("a", 1, "csv", "x,y")]),
        flag("i", variants=[variant("a", 1, "number", "42")]),
        flag("f", variants=[variant("a", 1, "number", "2.5")]),
        flag("o", variants=[variant("a", 1, "json", '{"k": [1, 2]}')]),
        flag("names", variants=[variant("a", 1, "string", "A"), variant("b", 0)]),
    )
    assert r.resolve("s", {}).value == "A"
    assert r.resolve("csv", {}).value == "x,y"
    assert r.resolve("i", {}).value == 42
    assert isinstance(r.resolve("i", {}).value, int)
    assert r.resolve("f", {}).value == 2.5
    assert r.resolve("o", {}).value == {"k": [1, 2]}
    assert [r.kind(k) for k in ("s", "i", "o", "names")] == [
        Kind.STRING, Kind.NUMBER, Kind.OBJECT, Kind.STRING,
    ]  # fmt: skip


def test_weighted_variants_split_and_overrides_match() -> None:
    override = {
        **variant("vip", 0, "string", "V"),
        "overrides": [{"contextName": "userId", "values": ["boss"]}],
    }
    r = resolver(
        flag(
            "ab",
            variants=[variant("a", 50, "string", "A"), variant("b", 50, "string", "B"), override],
        )
    )
    values = {r.resolve("ab", {"userId": f"u{i}"}).value for i in range(100)}
    assert values == {"A", "B"}
    assert r.resolve("ab", {"userId": "u1"}).reason is Reason.SPLIT
    boss = r.resolve("ab", {"userId": "boss"})
    assert (boss.value, boss.variant, boss.reason) == ("V", "vip", Reason.TARGETING_MATCH)


def test_a_typed_flag_that_is_off_leaves_the_code_default() -> None:
    r = resolver(flag("s", enabled=False, variants=[variant("a", 1, "string", "A")]))
    off = r.resolve("s", {})
    assert off.value is NO_VALUE
    assert off.reason is Reason.DISABLED
    assert not off.failed


@pytest.mark.parametrize(
    ("variants", "code", "words"),
    [
        (
            [variant("a", 1, "string", "A"), variant("b", 1, "number", "1")],
            ErrorCode.TYPE_MISMATCH,
            "mix",
        ),
        ([variant("a", 1, "number", "1"), variant("b", 1)], ErrorCode.TYPE_MISMATCH, "no payload"),
        ([variant("a", 1, "number", "many")], ErrorCode.PARSE_ERROR, "not a number"),
        ([variant("a", 1, "json", "{nope")], ErrorCode.PARSE_ERROR, "not JSON"),
        ([variant("a", 1, "json", "3")], ErrorCode.PARSE_ERROR, "not an object"),
        ([variant("a", 1, "xml", "<a/>")], ErrorCode.PARSE_ERROR, "'xml'"),
    ],
)
def test_unusable_variants_are_errors_naming_the_variant(
    variants: list[dict[str, Any]], code: ErrorCode, words: str
) -> None:
    result = resolver(flag("bad", variants=variants)).resolve("bad", {"userId": "u"})
    assert result.error_code is code
    assert result.reason is Reason.ERROR
    assert words in result.error_details
    assert "'bad'" in result.error_details


def test_unknown_flags_and_missing_targeting_keys_are_errors() -> None:
    r = resolver(flag("half", strategies=[HALF]), flag("by-user", strategies=[
        {"name": "gradualRolloutUserId", "parameters": {"percentage": "30"}}
    ]))  # fmt: skip
    assert r.resolve("nope", {}).error_code is ErrorCode.FLAG_NOT_FOUND
    assert r.resolve("half", {}).error_code is ErrorCode.TARGETING_KEY_MISSING
    assert not r.resolve("half", {"sessionId": "s"}).failed  # default stickiness: a session will do
    assert r.resolve("by-user", {"sessionId": "s"}).error_code is ErrorCode.TARGETING_KEY_MISSING


def test_context_maps_targeting_key_and_custom_fields() -> None:
    context = context_of(
        {"targetingKey": "u1", "sessionId": "s", "tier": "gold", "n": 3, "gone": None}
    )
    assert context == {"userId": "u1", "sessionId": "s", "properties": {"tier": "gold", "n": 3}}
    assert context_of({"targetingKey": "t", "userId": "explicit"})["userId"] == "explicit"
    assert context_of(None) == {}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([1], "context"),
        ({"nested": {"a": 1}}, "context.nested"),
        ({"list": [1]}, "context.list"),
        ({"targetingKey": 5}, "context.targetingKey"),
        ({"currentTime": "yesterday"}, "context.currentTime"),
        ({"properties": {"a": "b"}}, "context.properties"),
        ({f"k{i}": i for i in range(300)}, "context"),
        ({"big": "x" * 5000}, "context.big"),
    ],
)
def test_unusable_contexts_are_refused_naming_the_field(raw: object, field: str) -> None:
    with pytest.raises(ContextError) as caught:
        context_of(raw)
    assert caught.value.field == field


def test_a_flag_on_for_everyone_needs_no_targeting_key_for_a_later_split() -> None:
    r = resolver(flag("first-wins", strategies=[DEFAULT, HALF]))
    result = r.resolve("first-wins", {})
    assert (result.value, result.reason, result.failed) == (True, Reason.STATIC, False)
    assert r.constant("first-wins") == result


def test_bulk_helpers_agree_with_single_resolutions() -> None:
    r = resolver(flag("half", strategies=[HALF]), flag("gold", strategies=[GOLD]))
    for raw in ({"targetingKey": "u1", "tier": "gold"}, {"sessionId": "s"}, {}):
        context = context_of(raw)
        present = Resolver.keys_present(context)
        assert [r.resolve(k, context, present) for k in r.flag_keys()] == r.resolve_all(context)


# -- the precomputed answers (`Resolver.answers`) of flags that can give only a few ---------

COLORS = [variant("blue", 50, "string", "#00f"), variant("green", 50, "string", "#0f0")]
SIZES = [variant("s", 1, "number", "1"), variant("l", 3, "number", "3")]
FEW = [
    flag("half", strategies=[HALF]),
    flag("gold", strategies=[GOLD]),
    flag("gold-or-half", strategies=[GOLD, HALF]),
    flag("gold-half", strategies=[{**HALF, "constraints": GOLD["constraints"]}]),
    flag("by-session", strategies=[{**HALF, "parameters": {**HALF["parameters"],
                                                           "stickiness": "sessionId"}}]),
    flag("colors", strategies=[{**HALF, "parameters": {"rollout": "100"}, "variants": COLORS}]),
    flag("gold-colors", strategies=[{**GOLD, "variants": COLORS}, HALF]),
    flag("sizes", strategies=[GOLD, HALF], variants=SIZES),
    flag("named", strategies=[GOLD], variants=[variant("a", 1), variant("b", 1)]),
    flag("unweighted", strategies=[GOLD], variants=[variant("a", 0)]),
    flag("no-value", strategies=[GOLD, HALF], variants=[variant("a", 0, "string", "x")]),
]  # fmt: skip
MANY = [
    flag("overridden", strategies=[GOLD], variants=[
        {**variant("a", 1, "string", "A"), "overrides": [{"contextName": "userId",
                                                          "values": ["u3"]}]},
        variant("b", 1, "string", "B"),
    ]),
    flag("weighted-only", variants=COLORS),
]  # fmt: skip
CONTEXTS = [
    context_of(raw)
    for raw in (
        *({"targetingKey": f"u{i}", "tier": ("gold", "tin")[i % 2]} for i in range(60)),
        {"sessionId": "s1", "tier": "gold"},
        {"tier": "gold"},
        {},
    )
]


def test_answers_are_the_resolutions_encoded() -> None:
    r = resolver(*FEW, *MANY)
    for key in r.flag_keys():
        answer = r.answers(key, lambda resolution: ("encoded", resolution))
        for context in CONTEXTS:
            expected = r.resolve(key, context)
            assert answer(context, None) == ("encoded", expected)
            assert answer(context, Resolver.keys_present(context)) == ("encoded", expected)


def test_flags_with_few_answers_are_encoded_once_and_resolve_as_in_general() -> None:
    """No dependencies and no variant overrides: each answer is encoded when the flag is
    compiled, and evaluations pick one; the results are the general path's."""
    r = resolver(*FEW, *MANY)
    general = Resolver(Engine.from_unleash({"version": 1, "features": [*FEW, *MANY]}))
    encoded: list[str] = []

    def encode(resolution: Any) -> Any:
        encoded.append(resolution.key)
        return resolution

    answers = {key: r.answers(key, encode) for key in r.flag_keys()}
    built = len(encoded)
    seen: dict[str, set[tuple[Any, ...]]] = {}
    for key, answer in answers.items():
        for context in CONTEXTS:
            result = answer(context, None)
            assert result == general._resolve(key, context)  # the general path, the reference
            seen.setdefault(key, set()).add((result.reason, result.variant, result.error_code))
    few = {f["name"] for f in FEW}
    assert set(encoded[built:]) == {f["name"] for f in MANY}  # only those encode on the way
    assert sorted(key for key in few if len(seen[key]) < 2) == []  # each in several ways
    variants = {v for key in ("colors", "sizes") for _, v, _ in seen[key]}
    assert variants >= {"blue", "green", "s", "l"}  # each variant chosen for someone
