"""Constraints: one predicate per constraint, built once when the engine is built.

Semantics (Unleash client specification):

- the operator runs on the context field (top level, else ``properties``); an
  absent field makes every operator false except ``NOT_IN``, which is true;
- ``inverted`` negates the operator's result;
- ``caseInsensitive`` applies to the ``STR_*`` operators and ``REGEX``;
- ``IN``/``NOT_IN``/``STR_*``/``IN_CIDR`` read ``values``; the ``NUM_*``,
  ``DATE_*``, ``SEMVER_*`` and ``REGEX`` operators read ``value``;
- ``DATE_*`` compare ``currentTime``-like fields; an absent ``currentTime`` is now;
- a constraint that cannot work (unknown operator, invalid regex, date, number
  or version in the definition) never matches, inverted or not; with
  ``strict=True`` it is refused with a `FlagError` instead.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import operator as op
from collections.abc import Callable, Sequence
from typing import Any

import semver

from rollsafe.flags.backtracking import MAX_SUBJECT
from rollsafe.flags.contexts import Context, Predicate, never, resolve, resolve_raw
from rollsafe.flags.regexes import UnsupportedRegexError, compile_re2
from rollsafe.flags.validation import (
    expect_bool,
    expect_list,
    expect_mapping,
    expect_str,
    fail,
    parse_number,
    type_name,
)

_NUMBER_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "NUM_EQ": op.eq,
    "NUM_GT": op.gt,
    "NUM_GTE": op.ge,
    "NUM_LT": op.lt,
    "NUM_LTE": op.le,
}
_SEMVER_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "SEMVER_EQ": op.eq,
    "SEMVER_GT": op.gt,
    "SEMVER_GTE": op.ge,
    "SEMVER_LT": op.lt,
    "SEMVER_LTE": op.le,
}
_DATE_OPS: dict[str, Callable[[Any, Any], bool]] = {"DATE_AFTER": op.gt, "DATE_BEFORE": op.lt}
_LIST_OPS = frozenset(
    {"IN", "NOT_IN", "STR_STARTS_WITH", "STR_ENDS_WITH", "STR_CONTAINS", "IN_CIDR"}
)
OPERATORS = frozenset(_LIST_OPS | {"REGEX"} | set(_NUMBER_OPS) | set(_SEMVER_OPS) | set(_DATE_OPS))
"""Every operator the engine evaluates."""


class _InvalidConstraintError(ValueError):
    """The constraint's definition cannot be evaluated (lenient mode: it never matches)."""


def compile_constraints(
    raw: object, owner: str, field: str, *, strict: bool
) -> tuple[Predicate, ...]:
    """Predicates for a ``constraints`` array (all must hold)."""
    return tuple(
        compile_constraint(item, owner, f"{field}[{index}]", strict=strict)
        for index, item in enumerate(expect_list(raw, owner, field))
    )


def compile_constraint(raw: object, owner: str, field: str, *, strict: bool) -> Predicate:
    """The predicate of one constraint; raises `FlagError` for wrong types (always) and,
    with ``strict``, for definitions that cannot be evaluated."""
    raw = expect_mapping(raw, owner, field)
    name = expect_str(raw.get("contextName"), owner, f"{field}.contextName", non_empty=True)
    operator = expect_str(raw.get("operator"), owner, f"{field}.operator", non_empty=True)
    inverted = expect_bool(raw.get("inverted"), owner, f"{field}.inverted", default=False)
    fold = expect_bool(raw.get("caseInsensitive"), owner, f"{field}.caseInsensitive", default=False)
    values = _string_list(raw.get("values"), owner, f"{field}.values")
    value = raw.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, str | int | float)):
        fail(owner, f"{field}.value", f"expected a string or number, got {type_name(value)}")
    try:
        if operator not in OPERATORS:
            raise _InvalidConstraintError(f"unknown operator {operator!r}")
        if operator in _LIST_OPS:
            predicate = _list_predicate(operator, name, values, fold)
        else:
            if value is None:
                raise _InvalidConstraintError(f"operator {operator} needs a 'value'")
            predicate = _value_predicate(operator, name, str(value), fold)
    except _InvalidConstraintError as error:
        if strict:
            fail(owner, field, str(error))
        return never
    if inverted:
        return lambda context: not predicate(context)
    return predicate


def _string_list(raw: object, owner: str, field: str) -> tuple[str, ...]:
    items = expect_list(raw, owner, field)
    out: list[str] = []
    for index, item in enumerate(items):
        if item is None:
            continue
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            fail(owner, f"{field}[{index}]", f"expected a string, got {type_name(item)}")
        out.append(str(item))
    return tuple(out)


def _list_predicate(operator: str, name: str, values: Sequence[str], fold: bool) -> Predicate:
    if operator in ("IN", "NOT_IN"):
        members = frozenset(v.strip() for v in values if v.strip())

        def is_in(context: Context) -> bool:
            return resolve(context, name) in members

        if operator == "IN":
            return is_in
        return lambda context: not is_in(context)
    if operator == "IN_CIDR":
        return _cidr_predicate(name, values)
    needles = tuple(v.lower() if fold else v for v in values if v)
    if operator == "STR_CONTAINS":

        def contains(context: Context) -> bool:
            text = resolve(context, name)
            if text is None:
                return False
            if fold:
                text = text.lower()
            return any(needle in text for needle in needles)

        return contains
    ends = operator == "STR_ENDS_WITH"

    def affix(context: Context) -> bool:
        text = resolve(context, name)
        if text is None:
            return False
        if fold:
            text = text.lower()
        return text.endswith(needles) if ends else text.startswith(needles)

    return affix


def _cidr_predicate(name: str, values: Sequence[str]) -> Predicate:
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            continue  # Invalid entries are ignored; the others still match.
    nets = tuple(networks)

    def in_cidr(context: Context) -> bool:
        text = resolve(context, name)
        if text is None or not nets:
            return False
        try:
            address = ipaddress.ip_address(text.strip())
        except ValueError:
            return False
        return any(address in net for net in nets)

    return in_cidr


def _value_predicate(operator: str, name: str, value: str, fold: bool) -> Predicate:
    if operator in _NUMBER_OPS:
        return _number_predicate(_NUMBER_OPS[operator], name, value)
    if operator in _DATE_OPS:
        return _date_predicate(_DATE_OPS[operator], name, value)
    if operator in _SEMVER_OPS:
        return _semver_predicate(_SEMVER_OPS[operator], name, value)
    try:
        pattern = compile_re2(value, ignore_case=fold)
    except UnsupportedRegexError as error:
        raise _InvalidConstraintError(str(error)) from None
    search = pattern.search

    def matches(context: Context) -> bool:
        text = resolve(context, name)
        # Bounded: even the patterns `compile_re2` accepts can be cubic (.*a.*b.*c).
        return text is not None and len(text) <= MAX_SUBJECT and search(text) is not None

    return matches


def to_number(value: object) -> float | None:
    """A context value as a number, or None (booleans and non-numeric text are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return parse_number(value)
    return None


def _number_predicate(compare: Callable[[Any, Any], bool], name: str, value: str) -> Predicate:
    target = parse_number(value)
    if target is None:
        raise _InvalidConstraintError(f"not a number: {value!r}")

    def number(context: Context) -> bool:
        actual = to_number(resolve_raw(context, name))
        return actual is not None and compare(actual, target)

    return number


def to_datetime(value: object) -> dt.datetime | None:
    """A context value as an aware datetime (naive means UTC), or None."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _date_predicate(compare: Callable[[Any, Any], bool], name: str, value: str) -> Predicate:
    target = to_datetime(value)
    if target is None:
        raise _InvalidConstraintError(f"not an ISO 8601 date: {value!r}")
    now_if_absent = name == "currentTime"

    def date(context: Context) -> bool:
        raw = resolve_raw(context, name)
        if raw is None and now_if_absent:
            return bool(compare(dt.datetime.now(dt.UTC), target))
        actual = to_datetime(raw)
        return actual is not None and compare(actual, target)

    return date


def to_version(value: object) -> semver.Version | None:
    """A context value as a semantic version (strict: no ``v`` prefix, three parts), or None."""
    if not isinstance(value, str):
        return None
    try:
        return semver.Version.parse(value)
    except ValueError:
        return None


def _semver_predicate(compare: Callable[[Any, Any], bool], name: str, value: str) -> Predicate:
    target = to_version(value)
    if target is None:
        raise _InvalidConstraintError(f"not a semantic version: {value!r}")

    def version(context: Context) -> bool:
        actual = to_version(resolve(context, name))
        return actual is not None and compare(actual, target)

    return version
