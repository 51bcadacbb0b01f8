"""Activation strategies, compiled to one predicate each (constraints and segments included).

Built-in strategies of the Unleash client specification:

- ``default``: on for everyone;
- ``userWithId``: ``userId`` in the comma-separated ``userIds``;
- ``gradualRolloutUserId`` / ``gradualRolloutSessionId``: the id's bucket
  (`hashing`) within ``groupId`` is at most ``percentage``; off without the id;
- ``gradualRolloutRandom``: on for ``percentage`` of calls, at random;
- ``flexibleRollout``: bucket of the ``stickiness`` field within ``groupId`` at
  most ``rollout``; stickiness ``default`` is ``userId``, else ``sessionId``,
  else random; ``random`` is random; any other field is off when absent;
- ``remoteAddress``: ``remoteAddress`` equal to, or inside a CIDR range of, ``IPs``;
- ``applicationHostname``: this machine's host name in ``hostNames`` (case-insensitive).

Unknown strategies never match (as in Unleash); with ``strict=True`` they are
refused. A strategy referring to a segment that does not exist never matches.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from rollsafe.flags.constraints import compile_constraints
from rollsafe.flags.contexts import Context, Predicate, always, never, resolve
from rollsafe.flags.hashing import ROLLOUT_SEED, murmur3, random_fraction
from rollsafe.flags.validation import (
    expect_bool,
    expect_int,
    expect_list,
    expect_mapping,
    expect_number,
    expect_optional_mapping,
    expect_str,
    fail,
    type_name,
)
from rollsafe.flags.variants import VariantSet, compile_variants

STRATEGIES = frozenset(
    {
        "default",
        "userWithId",
        "gradualRolloutUserId",
        "gradualRolloutSessionId",
        "gradualRolloutRandom",
        "flexibleRollout",
        "remoteAddress",
        "applicationHostname",
    }
)
"""Every strategy the engine evaluates."""


# NamedTuples, as `features.Feature` is: immutable, and cheap to build on every update.


class Strategy(NamedTuple):
    name: str
    matches: Predicate
    """True when the constraints, the segments and the strategy itself hold."""
    variants: VariantSet | None


class StrategyScope(NamedTuple):
    """What compiling a strategy needs besides its own definition."""

    feature: str
    segments: Mapping[int, tuple[Predicate, ...]]
    hostname: Callable[[], str]
    strict: bool


def compile_strategy(raw: object, scope: StrategyScope, owner: str, field: str) -> Strategy:
    raw = expect_mapping(raw, owner, field)
    name = expect_str(raw.get("name"), owner, f"{field}.name", non_empty=True)
    params = expect_optional_mapping(raw.get("parameters"), owner, f"{field}.parameters")
    for key, value in params.items():
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, str | int | float)
        ):
            fail(owner, f"{field}.parameters.{key}", f"expected a string, got {type_name(value)}")
    strict = scope.strict
    # Absent parts are skipped before building their field paths: every update of a
    # flag compiles it again, in every client.
    checks: list[Predicate] = []
    constraints, segments = raw.get("constraints"), raw.get("segments")
    if constraints is not None and constraints != []:
        checks.extend(
            compile_constraints(constraints, owner, f"{field}.constraints", strict=strict)
        )
    if segments is not None and segments != []:
        for index, segment_id in enumerate(expect_list(segments, owner, f"{field}.segments")):
            segment_id = expect_int(segment_id, owner, f"{field}.segments[{index}]")
            segment = scope.segments.get(segment_id)
            if segment is None:
                if strict:
                    fail(owner, f"{field}.segments[{index}]", f"no segment with id {segment_id}")
                checks.append(never)
            else:
                checks.extend(segment)
    disabled = raw.get("disabled") is not None and expect_bool(
        raw["disabled"], owner, f"{field}.disabled", default=False
    )
    body = _body(name, params, scope, owner, field)
    matches = never if disabled else _all_of(tuple(checks), body)
    variants = None
    if raw.get("variants") is not None and raw["variants"] != []:
        variants = compile_variants(
            raw["variants"],
            group_id=_text(params.get("groupId")) or scope.feature,
            fallback_stickiness=_text(params.get("stickiness")) or "default",
            owner=owner,
            field=f"{field}.variants",
        )
    return Strategy(name, matches, variants)


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _all_of(checks: tuple[Predicate, ...], body: Predicate) -> Predicate:
    if never in checks or body is never:
        return never
    if not checks:
        return body
    if len(checks) == 1:
        (check,) = checks
        return lambda context: check(context) and body(context)

    def all_of(context: Context) -> bool:
        for check in checks:
            if not check(context):
                return False
        return body(context)

    return all_of


def _percentage(
    params: Mapping[str, Any], key: str, scope: StrategyScope, owner: str, field: str
) -> float | None:
    where = f"{field}.parameters.{key}"
    if params.get(key) is None:
        if scope.strict:
            fail(owner, where, "missing")
        return None
    percentage = expect_number(params[key], owner, where)
    if not 0 <= percentage <= 100:
        fail(owner, where, f"must be between 0 and 100, got {params[key]!r}")
    return percentage


def _body(
    name: str, params: Mapping[str, Any], scope: StrategyScope, owner: str, field: str
) -> Predicate:
    if name == "default":
        return always
    if name == "userWithId":
        return _user_with_id(_split(params.get("userIds")))
    if name == "remoteAddress":
        return _remote_address(_split(params.get("IPs")))
    if name == "applicationHostname":
        wanted = {host.lower() for host in _split(params.get("hostNames"))}
        return always if scope.hostname().lower() in wanted else never
    if name in ("gradualRolloutUserId", "gradualRolloutSessionId", "gradualRolloutRandom"):
        percentage = _percentage(params, "percentage", scope, owner, field)
        if percentage is None or percentage <= 0:
            return never
        if name == "gradualRolloutRandom":
            return _random_rollout(percentage)
        group_id = _text(params.get("groupId")) or scope.feature
        sticky = "userId" if name == "gradualRolloutUserId" else "sessionId"
        return _sticky_rollout(sticky, group_id, percentage)
    if name == "flexibleRollout":
        percentage = _percentage(params, "rollout", scope, owner, field)
        if percentage is None or percentage <= 0:
            return never
        group_id = _text(params.get("groupId")) or scope.feature
        stickiness = _text(params.get("stickiness")) or "default"
        if stickiness == "default":
            return _default_rollout(group_id, percentage)
        if stickiness == "random":
            return _random_rollout(percentage)
        return _sticky_rollout(stickiness, group_id, percentage)
    if scope.strict:
        fail(owner, f"{field}.name", f"unknown strategy {name!r}")
    return never


def _split(value: object) -> list[str]:
    return [part.strip() for part in _text(value).split(",") if part.strip()]


def _user_with_id(user_ids: Sequence[str]) -> Predicate:
    ids = frozenset(user_ids)
    return lambda context: resolve(context, "userId") in ids


def _remote_address(entries: Sequence[str]) -> Predicate:
    exact = frozenset(entries)
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue  # Invalid entries are ignored, as in Unleash.
    nets = tuple(networks)

    def remote_address(context: Context) -> bool:
        address = resolve(context, "remoteAddress")
        if address is None:
            return False
        if address in exact:
            return True
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in net for net in nets)

    return remote_address


# The rollout predicates are the hot path of `Engine.is_enabled`: each reads the
# field straight from the context (falling back to `resolve` for properties and
# non-string values), hashes a precomputed "groupId:" prefix plus the id, and
# compares ``hash % 100`` with ``percentage - 1`` (same as ``% 100 + 1 <= percentage``).


def _random_rollout(percentage: float) -> Predicate:
    threshold = percentage - 1
    return lambda context: int(random_fraction() * 100) <= threshold


def _sticky_rollout(field: str, group_id: str, percentage: float) -> Predicate:
    prefix = group_id + ":"
    threshold = percentage - 1
    seed = ROLLOUT_SEED

    def sticky_rollout(context: Context) -> bool:
        value = context.get(field)
        if value.__class__ is not str or not value:
            value = resolve(context, field)
            if value is None:
                return False
        return murmur3(prefix + value, seed, False) % 100 <= threshold

    return sticky_rollout


def _default_rollout(group_id: str, percentage: float) -> Predicate:
    prefix = group_id + ":"
    threshold = percentage - 1
    seed = ROLLOUT_SEED

    def default_rollout(context: Context) -> bool:
        value = context.get("userId")
        if value.__class__ is not str or not value:
            value = resolve(context, "userId") or resolve(context, "sessionId")
            if value is None:
                return int(random_fraction() * 100) <= threshold
        return murmur3(prefix + value, seed, False) % 100 <= threshold

    return default_rollout
