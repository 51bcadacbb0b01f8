"""Variants: weighted choices attached to a feature or to one of its strategies.

Selection (Unleash client specification): the first variant with an override
matching the context wins; otherwise the stickiness value is hashed as
``murmur3("{groupId}:{value}", seed 86028157) % total_weight + 1`` and the
variant whose cumulative weight first reaches it is chosen. ``groupId`` is the
feature name for feature variants and the strategy's ``groupId`` for strategy
variants. Stickiness ``default`` uses ``userId``, ``sessionId`` then
``remoteAddress``; without any of them (or with ``random``, or with a custom
field that is absent) the choice is random.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rollsafe.flags.contexts import Context, resolve
from rollsafe.flags.hashing import VARIANT_SEED, murmur3, random_bucket
from rollsafe.flags.validation import (
    expect_int,
    expect_list,
    expect_mapping,
    expect_optional_str,
    expect_str,
    fail,
)

_DEFAULT_STICKINESS = ("userId", "sessionId", "remoteAddress")


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    weight: int
    payload: Mapping[str, Any] | None
    overrides: tuple[tuple[str, frozenset[str]], ...]

    def as_result(self) -> dict[str, Any]:
        """The variant as `Engine.get_variant` returns it (a fresh dict each time)."""
        result: dict[str, Any] = {"name": self.name}
        if self.payload is not None:
            result["payload"] = dict(self.payload)
        result["enabled"] = True
        result["feature_enabled"] = True
        return result


@dataclass(frozen=True, slots=True)
class VariantSet:
    group_id: str
    stickiness: str
    variants: tuple[Variant, ...]
    total_weight: int
    has_overrides: bool

    def select(self, context: Context) -> Variant | None:
        """The variant for this context; None when every weight is zero."""
        if self.has_overrides:
            for variant in self.variants:
                for field, values in variant.overrides:
                    if resolve(context, field) in values:
                        return variant
        if self.total_weight <= 0:
            return None
        key = self._stickiness_value(context)
        if key is None:
            target = random_bucket(self.total_weight)
        else:
            target = murmur3(f"{self.group_id}:{key}", VARIANT_SEED, False) % self.total_weight + 1
        counter = 0
        for variant in self.variants:
            counter += variant.weight
            if counter >= target:
                return variant
        return None  # Unreachable: the weights add up to total_weight.

    def _stickiness_value(self, context: Context) -> str | None:
        if self.stickiness == "default":
            for field in _DEFAULT_STICKINESS:
                value = resolve(context, field)
                if value is not None:
                    return value
            return None
        if self.stickiness == "random":
            return None
        return resolve(context, self.stickiness)


def compile_variants(
    raw: object, *, group_id: str, fallback_stickiness: str, owner: str, field: str
) -> VariantSet | None:
    """The variant set of a ``variants`` array, or None when it is empty.

    Stickiness is the first variant's ``stickiness``, else ``fallback_stickiness``
    (``default`` for feature variants, the strategy's stickiness for strategy variants).
    """
    items = expect_list(raw, owner, field)
    if not items:
        return None
    variants: list[Variant] = []
    stickiness: str | None = None
    for index, item in enumerate(items):
        where = f"{field}[{index}]"
        item = expect_mapping(item, owner, where)
        name = expect_str(item.get("name"), owner, f"{where}.name", non_empty=True)
        weight = expect_int(item.get("weight", 0), owner, f"{where}.weight")
        if weight < 0:
            fail(owner, f"{where}.weight", f"must not be negative, got {weight}")
        payload = item.get("payload")
        if payload is not None:
            payload = expect_mapping(payload, owner, f"{where}.payload")
        own = expect_optional_str(item.get("stickiness"), owner, f"{where}.stickiness")
        if index == 0 and own:
            stickiness = own
        overrides = []
        for o_index, override in enumerate(
            expect_list(item.get("overrides"), owner, f"{where}.overrides")
        ):
            o_where = f"{where}.overrides[{o_index}]"
            override = expect_mapping(override, owner, o_where)
            context_name = expect_str(
                override.get("contextName"), owner, f"{o_where}.contextName", non_empty=True
            )
            values = expect_list(override.get("values"), owner, f"{o_where}.values")
            for v_index, value in enumerate(values):
                expect_str(value, owner, f"{o_where}.values[{v_index}]")
            overrides.append((context_name, frozenset(values)))
        variants.append(Variant(name, weight, payload, tuple(overrides)))
    return VariantSet(
        group_id=group_id,
        stickiness=stickiness or fallback_stickiness or "default",
        variants=tuple(variants),
        total_weight=sum(v.weight for v in variants),
        has_overrides=any(v.overrides for v in variants),
    )
