"""Compiled features: a feature definition checked and turned into predicates.

`compile_feature` checks every field of one Unleash feature (raising
`FlagError` naming the feature and field) and compiles its strategies; the
result's ``check`` says whether the feature is on, dependencies aside (the
engine links dependencies, since they refer to other features).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from rollsafe.flags.constraints import compile_constraints
from rollsafe.flags.contexts import Context, Predicate, always, never
from rollsafe.flags.strategies import Strategy, StrategyScope, compile_strategy
from rollsafe.flags.validation import (
    expect_bool,
    expect_int,
    expect_list,
    expect_mapping,
    expect_str,
    fail,
    type_name,
)
from rollsafe.flags.variants import VariantSet, compile_variants


@dataclass(frozen=True, slots=True)
class Dependency:
    feature: str
    enabled: bool
    variants: frozenset[str]


class Feature(NamedTuple):
    """One compiled feature; its ``check`` ignores dependencies (the engine links those).

    A NamedTuple rather than a frozen dataclass: as immutable (engines share it), and
    built four times faster; every client builds one for each flag change.
    """

    name: str
    enabled: bool
    strategies: tuple[Strategy, ...]
    variants: VariantSet | None
    dependencies: tuple[Dependency, ...]
    segment_ids: frozenset[int]
    check: Predicate
    definition: Mapping[str, Any]
    """What it was compiled from (the engine's to share, never to change)."""

    def evaluate(self, context: Context) -> tuple[bool, VariantSet | None]:
        """Whether it is on (dependencies aside), and the variants that then apply."""
        if not self.enabled:
            return False, None
        if not self.strategies:
            return True, self.variants
        for strategy in self.strategies:
            if strategy.matches(context):
                return True, strategy.variants or self.variants
        return False, None

    def variant_name(self, context: Context) -> str | None:
        """The name of its variant (``"disabled"`` without one), or None when it is off."""
        enabled, variants = self.evaluate(context)
        if not enabled:
            return None
        variant = variants.select(context) if variants is not None else None
        return variant.name if variant is not None else "disabled"


def all_of_checks(predicates: Sequence[Predicate]) -> Predicate:
    """One predicate true when all are (``always`` and ``never`` folded away)."""
    if never in predicates:
        return never
    predicates = [p for p in predicates if p is not always]
    if not predicates:
        return always
    if len(predicates) == 1:
        return predicates[0]
    checks = tuple(predicates)

    def all_of(context: Context) -> bool:
        # A loop, not all(generator): this runs on every is_enabled call and is faster.
        for check in checks:  # noqa: SIM110
            if not check(context):
                return False
        return True

    return all_of


def any_of_checks(predicates: Sequence[Predicate]) -> Predicate:
    """One predicate true when any is (``always`` and ``never`` folded away)."""
    predicates = [p for p in predicates if p is not never]
    if not predicates:
        return never
    if always in predicates:
        return always
    if len(predicates) == 1:
        return predicates[0]
    checks = tuple(predicates)

    def any_of(context: Context) -> bool:
        # A loop, not any(generator): this runs on every is_enabled call and is faster.
        for check in checks:  # noqa: SIM110
            if check(context):
                return True
        return False

    return any_of


def copy_json(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars): several times faster than
    `copy.deepcopy`, which every definition passes through on each update. Anything
    else is handed to `copy.deepcopy`."""
    if isinstance(value, dict):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    if value is None or isinstance(value, str | int | float):
        return value
    return copy.deepcopy(value)


def copy_definition(raw: Mapping[str, Any], owner: str, field: str) -> Mapping[str, Any]:
    """A deep copy of one feature or segment, so the caller may change its own afterwards."""
    try:
        copied: Mapping[str, Any] = copy_json(raw)
    except RecursionError:  # copy.deepcopy would have copied a cycle; it is no definition
        fail(owner, field, "nested too deeply, or contains itself")
    return copied


def index_features(
    raw: object, owner: str, field: str, *, copy: bool = True
) -> dict[str, Mapping[str, Any]]:
    """Feature definitions by name (deep copies unless not ``copy``); duplicate names are
    refused."""
    out: dict[str, Mapping[str, Any]] = {}
    for index, item in enumerate(expect_list(raw, owner, field)):
        item = expect_mapping(item, owner, f"{field}[{index}]")
        name = expect_str(item.get("name"), owner, f"{field}[{index}].name", non_empty=True)
        if name in out:
            fail(owner, f"{field}[{index}].name", f"duplicate feature name {name!r}")
        out[name] = copy_definition(item, owner, f"{field}[{index}]") if copy else item
    return out


def index_segments(
    raw: object, owner: str, field: str, *, copy: bool = True
) -> dict[int, Mapping[str, Any]]:
    """Segment definitions by id (deep copies unless not ``copy``); duplicate ids are
    refused."""
    out: dict[int, Mapping[str, Any]] = {}
    for index, item in enumerate(expect_list(raw, owner, field)):
        item = expect_mapping(item, owner, f"{field}[{index}]")
        segment_id = expect_int(item.get("id"), owner, f"{field}[{index}].id")
        if segment_id in out:
            fail(owner, f"{field}[{index}].id", f"duplicate segment id {segment_id}")
        out[segment_id] = copy_definition(item, owner, f"{field}[{index}]") if copy else item
    return out


def compile_segment(
    raw: Mapping[str, Any], segment_id: int, *, strict: bool
) -> tuple[Predicate, ...]:
    """The constraint predicates of one segment (all must hold)."""
    return compile_constraints(
        raw.get("constraints"), f"segment {segment_id}", "constraints", strict=strict
    )


def compile_feature(raw: Mapping[str, Any], scope: StrategyScope) -> Feature:
    """Check and compile the feature named ``scope.feature``; raises `FlagError`."""
    name = scope.feature
    owner = f"feature {name!r}"
    if "enabled" not in raw:
        fail(owner, "enabled", "missing")
    enabled = expect_bool(raw["enabled"], owner, "enabled", default=False)
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        fail(owner, "description", f"expected a string, got {type_name(description)}")
    raw_strategies = expect_list(raw.get("strategies"), owner, "strategies")
    strategies = tuple(
        compile_strategy(item, scope, owner, f"strategies[{index}]")
        for index, item in enumerate(raw_strategies)
    )
    variants = compile_variants(
        raw.get("variants"),
        group_id=name,
        fallback_stickiness="default",
        owner=owner,
        field="variants",
    )
    dependencies = tuple(
        _compile_dependency(item, owner, f"dependencies[{index}]")
        for index, item in enumerate(expect_list(raw.get("dependencies"), owner, "dependencies"))
    )
    segment_ids: set[int] = set()
    for strategy in raw_strategies:  # checked by compile_strategy
        segment_ids.update(strategy.get("segments") or ())
    if not enabled:
        check: Predicate = never
    elif not strategies:
        check = always
    else:
        check = any_of_checks([strategy.matches for strategy in strategies])
    return Feature(
        name=name,
        enabled=enabled,
        strategies=strategies,
        variants=variants,
        dependencies=dependencies,
        segment_ids=frozenset(segment_ids),
        check=check,
        definition=raw,
    )


def _compile_dependency(raw: object, owner: str, field: str) -> Dependency:
    raw = expect_mapping(raw, owner, field)
    parent = expect_str(raw.get("feature"), owner, f"{field}.feature", non_empty=True)
    enabled = expect_bool(raw.get("enabled"), owner, f"{field}.enabled", default=True)
    variants = expect_list(raw.get("variants"), owner, f"{field}.variants")
    for index, variant in enumerate(variants):
        expect_str(variant, owner, f"{field}.variants[{index}]")
    return Dependency(parent, enabled, frozenset(variants))
