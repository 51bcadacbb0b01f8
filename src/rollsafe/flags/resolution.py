"""OpenFeature resolutions of Unleash flags: a typed value, a reason, a variant, or an error.

OpenFeature (and its remote protocol, OFREP) asks "what is flag X for this
context, and why", where Unleash asks "is X on, and which variant". `Resolver`
answers the first from an `Engine`, with the engine's results unchanged:

- **Type.** A flag whose variants carry no payload is a boolean (its value is
  whether it is on). Payloads give the type: ``string`` and ``csv`` a string
  (a variant without a payload then gives its name), ``number`` a number (an
  integer when the text is one), ``json`` an object (or array). Variants whose
  payloads mix types are refused with ``TYPE_MISMATCH``; a payload that does not
  parse as its type with ``PARSE_ERROR``. Both are found once, when the resolver
  is built, not at every evaluation.
- **Reason.** ``DISABLED``: the flag is off in its environment. ``STATIC``: on,
  and nothing in the context can change the result (no strategy but an
  unconstrained ``default`` or 100% rollout first, one variant at most).
  ``SPLIT``: the value came from hashing a stickiness key (a rollout below 100%,
  or a weighted choice among variants). ``TARGETING_MATCH``: a constrained
  strategy or a variant override matched. ``DEFAULT``: on in the environment but
  not for this context (no strategy matched, or a parent flag forbids it).
- **Value when off.** A boolean flag is ``False``. A string, number or object
  flag that is off has no value: the caller's code default applies (OFREP's
  code-default flags; providers take the default when ``value`` is absent).
- **Targeting key.** A flag that splits traffic on ``userId`` or ``sessionId``
  (default stickiness included) answers ``TARGETING_KEY_MISSING`` to a context
  with neither: the Unleash SDKs would pick at random on every call, which from a
  remote service is almost always a caller that forgot the key.

`context_of` turns an OpenFeature context into an Unleash one (``targetingKey``
is ``userId``; unknown keys go under ``properties``) and refuses what the
engine cannot compare (nested values) with ``INVALID_CONTEXT`` naming the field.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, NamedTuple, TypeVar

from rollsafe.errors import RollsafeError
from rollsafe.flags.contexts import Context, Predicate, resolve
from rollsafe.flags.engine import Engine
from rollsafe.flags.features import Feature
from rollsafe.flags.validation import type_name
from rollsafe.flags.variants import VariantSet


class Reason(enum.StrEnum):
    """OpenFeature resolution reasons (the subset an Unleash flag can give)."""

    STATIC = "STATIC"
    TARGETING_MATCH = "TARGETING_MATCH"
    SPLIT = "SPLIT"
    DISABLED = "DISABLED"
    DEFAULT = "DEFAULT"
    ERROR = "ERROR"


class ErrorCode(enum.StrEnum):
    """OpenFeature error codes."""

    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    PARSE_ERROR = "PARSE_ERROR"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    INVALID_CONTEXT = "INVALID_CONTEXT"
    TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"
    GENERAL = "GENERAL"


class Kind(enum.StrEnum):
    """The OpenFeature type of a flag's values."""

    BOOLEAN = "boolean"
    STRING = "string"
    NUMBER = "number"
    OBJECT = "object"


Answer = TypeVar("Answer")
Mapped = TypeVar("Mapped")

NO_VALUE: Final[Any] = object()
"""`Resolution.value` when the caller's code default applies (a typed flag that is off)."""

UNLEASH_FIELDS = frozenset(
    {"userId", "sessionId", "remoteAddress", "environment", "appName", "currentTime"}
)
"""Context keys Unleash reads at the top level; any other key goes under ``properties``."""

MAX_CONTEXT_FIELDS = 256
"""Fields an evaluation context may have; more is refused as ``INVALID_CONTEXT``."""
MAX_CONTEXT_TEXT = 4096
"""Characters a context key or string value may have."""

_ON, _OFF, _NO_VARIANT = "on", "off", "disabled"
_KEYED_STICKINESS: Mapping[str, frozenset[str]] = {
    "default": frozenset({"userId", "sessionId"}),
    "userId": frozenset({"userId"}),
    "sessionId": frozenset({"sessionId"}),
}
"""The context fields a split on each stickiness hashes (any one of them will do)."""
_KEY_FIELDS = ("userId", "sessionId")


class ContextError(RollsafeError):
    """An evaluation context the engine cannot use; ``field`` names where (``context.x``)."""

    status = 400
    code = "invalid_context"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class Resolution(NamedTuple):
    """One flag resolved: ``value`` (or `NO_VALUE`), ``reason`` and ``variant``; or an error.

    A NamedTuple: immutable, and built several times faster than a frozen dataclass (a
    bulk evaluation builds one per flag). ``key``, ``reason``, ``variant`` and
    ``error_code`` determine the rest, so they may key a cache of encodings.
    """

    key: str
    reason: Reason
    variant: str = ""
    value: Any = NO_VALUE
    error_code: ErrorCode | None = None
    error_details: str = ""

    @property
    def failed(self) -> bool:
        return self.error_code is not None


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a resolver knows about one flag before any context: its type, parsed values,
    whether it is static, which context fields its splits need, or why it cannot resolve."""

    kind: Kind
    values: Mapping[str, Any]
    static: bool
    needs: tuple[frozenset[str], ...]
    split_strategies: frozenset[int]
    error: tuple[ErrorCode, str] | None


def context_of(raw: object) -> dict[str, Any]:
    """The Unleash context of an OpenFeature evaluation context (a JSON object); `ContextError`.

    ``targetingKey`` becomes ``userId`` unless one is given. Values must be
    strings, numbers, booleans or null; ``currentTime`` an ISO 8601 time.
    """
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ContextError("context", f"expected an object, got {type_name(raw)}")
    if len(raw) > MAX_CONTEXT_FIELDS:
        raise ContextError("context", f"{len(raw)} fields; at most {MAX_CONTEXT_FIELDS}")
    context: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    for key, value in raw.items():
        field = f"context.{key}"
        if len(key) > MAX_CONTEXT_TEXT:
            raise ContextError(field[:80] + "...", f"key longer than {MAX_CONTEXT_TEXT}")
        if value is None:
            continue
        if key == "properties":
            raise ContextError(field, "give custom fields at the top level of the context")
        if isinstance(value, dict | list):
            raise ContextError(field, f"{type_name(value)} values are not supported")
        if isinstance(value, str) and len(value) > MAX_CONTEXT_TEXT:
            raise ContextError(field, f"longer than {MAX_CONTEXT_TEXT} characters")
        if isinstance(value, float) and not math.isfinite(value):
            raise ContextError(field, "not a finite number")
        if key == "targetingKey":
            if not isinstance(value, str):
                raise ContextError(field, f"expected a string, got {type_name(value)}")
            context.setdefault("userId", value)
        elif key in UNLEASH_FIELDS:
            if key == "currentTime":
                _check_time(value, field)
            context[key] = value
        else:
            properties[key] = value
    if properties:
        context["properties"] = properties
    return context


def _check_time(value: object, field: str) -> None:
    if not isinstance(value, str):
        raise ContextError(field, f"expected an ISO 8601 time, got {type_name(value)}")
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ContextError(field, f"not an ISO 8601 time: {value[:64]!r}") from None


class Resolver:
    """Resolves the flags of one `Engine` as OpenFeature does (see the module docstring).

    Built once per flag state (the plans of all flags are made up front); immutable.
    """

    __slots__ = ("_compiled", "_constants", "_engine", "_plans")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        plans: dict[str, _Plan] = {}
        for name in engine.feature_names():
            feature = engine.feature(name)
            if feature is not None:
                plans[name] = _plan(feature)
        self._plans = plans
        self._constants: dict[str, Resolution] = {}
        self._compiled: dict[str, _Compiled[Resolution]] = {}
        for name, plan in plans.items():
            feature = engine.feature(name)
            if plan.error is not None or plan.static or (feature and not feature.enabled):
                self._constants[name] = self._resolve(name, {})
            elif feature is not None:
                compiled = _Compiled.of(feature, plan)
                if compiled is not None:
                    self._compiled[name] = compiled

    def constant(self, key: str) -> Resolution | None:
        """Flag ``key``'s resolution when no context can change it (off, static, or an
        error), else None; computed once, so a caller may encode it once too."""
        return self._constants.get(key)

    @classmethod
    def from_features(cls, features: Iterable[Mapping[str, Any]]) -> Resolver:
        """A resolver over Unleash feature definitions (already checked); `FlagError` if not."""
        document = {"version": 1, "features": list(features), "segments": []}
        return cls(Engine.from_unleash(document, copy=False))

    def __contains__(self, key: object) -> bool:
        return key in self._plans

    def flag_keys(self) -> list[str]:
        return list(self._plans)

    def kind(self, key: str) -> Kind | None:
        plan = self._plans.get(key)
        return None if plan is None else plan.kind

    @staticmethod
    def keys_present(context: Context) -> frozenset[str]:
        """Which of the fields splits hash on (``userId``, ``sessionId``) ``context`` has;
        computed once for a bulk evaluation and passed to each `resolve`."""
        return frozenset(f for f in _KEY_FIELDS if resolve(context, f) is not None)

    def resolve(
        self, key: str, context: Context, present: frozenset[str] | None = None
    ) -> Resolution:
        """Flag ``key`` for ``context`` (an Unleash context, see `context_of`).

        ``present``: `keys_present` of ``context``, when the caller has it already.
        """
        constant = self._constants.get(key)
        if constant is not None:
            return constant
        compiled = self._compiled.get(key)
        if compiled is not None:
            return compiled.resolve(context, present)
        return self._resolve(key, context, present)

    def _resolve(
        self, key: str, context: Context, present: frozenset[str] | None = None
    ) -> Resolution:
        plan = self._plans.get(key)
        feature = self._engine.feature(key)
        if plan is None or feature is None:
            return Resolution(
                key, Reason.ERROR, error_code=ErrorCode.FLAG_NOT_FOUND,
                error_details=f"no flag {key!r}",
            )  # fmt: skip
        if plan.error is not None:
            code, details = plan.error
            return Resolution(key, Reason.ERROR, error_code=code, error_details=details)
        if not feature.enabled:
            return self._off(key, plan, Reason.DISABLED)
        if plan.needs and not plan.static:
            if present is None:
                present = self.keys_present(context)
            for needed in plan.needs:
                if needed.isdisjoint(present):
                    return self._keyless(key, needed)
        if feature.dependencies and not self._engine.dependencies_met(key, context):
            return self._off(key, plan, Reason.DEFAULT)
        matched = -1
        variants: VariantSet | None = feature.variants
        for index, strategy in enumerate(feature.strategies):
            if strategy.matches(context):
                matched = index
                variants = strategy.variants or feature.variants
                break
        if feature.strategies and matched < 0:
            return self._off(key, plan, Reason.DEFAULT)
        reason = Reason.STATIC if plan.static else Reason.TARGETING_MATCH
        if matched in plan.split_strategies:
            reason = Reason.SPLIT
        chosen = variants.select(context) if variants is not None else None
        if chosen is not None and not plan.static:
            if _overridden(variants, context):
                reason = Reason.TARGETING_MATCH
            elif variants is not None and _is_weighted(variants):
                reason = Reason.SPLIT
        if plan.kind is Kind.BOOLEAN:
            return Resolution(key, reason, chosen.name if chosen else _ON, True)
        if chosen is None:  # every weight zero: on, but no value to give
            return Resolution(key, Reason.DEFAULT, _NO_VARIANT)
        return Resolution(key, reason, chosen.name, plan.values[chosen.name])

    def answers(
        self, key: str, encode: Callable[[Resolution], Mapped]
    ) -> Callable[[Context, frozenset[str] | None], Mapped]:
        """``encode(self.resolve(key, context, present))`` as one function of
        ``(context, present)``, for a caller that resolves the same flag many times.

        For most flags the answers ``encode`` can get are known in advance: each is
        encoded here, once, and an evaluation only picks one. Otherwise every call
        resolves, then encodes.
        """
        constant = self._constants.get(key)
        if constant is not None:
            encoded = encode(constant)
            return lambda context, present: encoded
        compiled = self._compiled.get(key)
        if compiled is not None:
            return compiled.map(encode).function()
        resolve = self._resolve
        return lambda context, present: encode(resolve(key, context, present))

    def resolve_all(self, context: Context) -> list[Resolution]:
        """Every flag for ``context``, in the engine's (document) order."""
        return [self.resolve(key, context) for key in self._plans]

    @staticmethod
    def _keyless(key: str, needed: frozenset[str]) -> Resolution:
        return Resolution(
            key,
            Reason.ERROR,
            error_code=ErrorCode.TARGETING_KEY_MISSING,
            error_details=f"flag {key!r} splits traffic by "
            f"{' or '.join(sorted(needed))}: send a targetingKey",
        )

    @staticmethod
    def _off(key: str, plan: _Plan, reason: Reason) -> Resolution:
        if plan.kind is Kind.BOOLEAN:
            return Resolution(key, reason, _OFF, False)
        return Resolution(key, reason, _NO_VARIANT)


class _Compiled(Generic[Answer]):
    """A flag without dependencies or variant overrides, on in its environment but not
    static: what `Resolver._resolve` would answer, with every answer it can give built
    up front (as `Resolution`, or as whatever `map` turned them into).

    Such a flag resolves to one of a handful of results (which strategy matched and
    which of its variants was chosen, none, or a missing targeting key), so a bulk
    evaluation of many flags pays for their strategies' checks and little else.
    """

    __slots__ = ("_keyless", "_off", "_strategies")

    def __init__(
        self,
        strategies: tuple[_Choice[Answer], ...],
        keyless: tuple[tuple[frozenset[str], Answer], ...],
        off: Answer,
    ) -> None:
        self._strategies = strategies
        self._keyless = keyless
        self._off = off

    @staticmethod
    def of(feature: Feature, plan: _Plan) -> _Compiled[Resolution] | None:
        """The fast form of ``feature``, or None when it needs the general path."""
        if feature.dependencies or not feature.strategies:
            return None
        key = feature.name
        boolean = plan.kind is Kind.BOOLEAN
        choices: list[_Choice[Resolution]] = []
        for index, strategy in enumerate(feature.strategies):
            variants = strategy.variants or feature.variants
            reason = Reason.SPLIT if index in plan.split_strategies else Reason.TARGETING_MATCH
            # No variant chosen: on (a boolean), or on without a value to give.
            unchosen = (
                Resolution(key, reason, _ON, True)
                if boolean
                else Resolution(key, Reason.DEFAULT, _NO_VARIANT)
            )
            if variants is None:
                choices.append(_Choice(strategy.matches, unchosen, None, {}))
                continue
            if variants.has_overrides:
                return None
            chosen = Reason.SPLIT if _is_weighted(variants) else reason
            by_name = {
                v.name: Resolution(key, chosen, v.name, True if boolean else plan.values[v.name])
                for v in variants.variants
            }
            choices.append(_Choice(strategy.matches, unchosen, variants, by_name))
        keyless = tuple((needed, Resolver._keyless(key, needed)) for needed in plan.needs)
        return _Compiled(tuple(choices), keyless, Resolver._off(key, plan, Reason.DEFAULT))

    def map(self, encode: Callable[[Answer], Mapped]) -> _Compiled[Mapped]:
        """The same flag answering ``encode`` of each answer (computed here, once each)."""
        choices = tuple(
            _Choice(
                c.matches,
                encode(c.unchosen),
                c.variants,
                {name: encode(answer) for name, answer in c.by_name.items()},
            )
            for c in self._strategies
        )
        keyless = tuple((needed, encode(answer)) for needed, answer in self._keyless)
        return _Compiled(choices, keyless, encode(self._off))

    def function(self) -> Callable[[Context, frozenset[str] | None], Answer]:
        """`resolve` as a function, a closure of its own for the commonest shape (one
        strategy without variants, at most one split): a bulk evaluation calls one per flag."""
        strategies, keyless, off = self._strategies, self._keyless, self._off
        if len(strategies) != 1 or strategies[0].variants is not None or len(keyless) > 1:
            return self.resolve
        matches, on = strategies[0].matches, strategies[0].unchosen
        if not keyless:
            return lambda context, present: on if matches(context) else off
        ((needed, missing),) = keyless
        keys_present = Resolver.keys_present

        def one_strategy(context: Context, present: frozenset[str] | None) -> Answer:
            if present is None:
                present = keys_present(context)
            if needed.isdisjoint(present):
                return missing
            return on if matches(context) else off

        return one_strategy

    def resolve(self, context: Context, present: frozenset[str] | None) -> Answer:
        if self._keyless:
            if present is None:
                present = Resolver.keys_present(context)
            for needed, keyless in self._keyless:
                if needed.isdisjoint(present):
                    return keyless
        for matches, unchosen, variants, by_name in self._strategies:
            if matches(context):
                if variants is None:
                    return unchosen
                chosen = variants.select(context)
                return unchosen if chosen is None else by_name[chosen.name]
        return self._off


class _Choice(NamedTuple, Generic[Answer]):
    """One strategy of a `_Compiled` flag and the answers it leads to."""

    matches: Predicate
    unchosen: Answer
    """The answer when no variant applies or none is chosen (every weight zero)."""
    variants: VariantSet | None
    by_name: Mapping[str, Answer]
    """The answer for each variant the strategy's variants may choose, by name."""


def _overridden(variants: VariantSet | None, context: Context) -> bool:
    if variants is None or not variants.has_overrides:
        return False
    return any(
        resolve(context, field) in values
        for variant in variants.variants
        for field, values in variant.overrides
    )


# -- plans: what is known of a flag before any context ----------------------------------------


def _plan(feature: Feature) -> _Plan:
    raw_strategies = [s for s in feature.definition.get("strategies") or () if isinstance(s, dict)]
    variant_sets = [feature.variants, *(s.variants for s in feature.strategies)]
    kind, values, error = _values(feature.name, [v for v in variant_sets if v is not None])
    needs: list[frozenset[str]] = []
    split: set[int] = set()
    for index, raw in enumerate(raw_strategies):
        needed = _split_needs(raw)
        if needed is not None:
            split.add(index)
            if needed:
                needs.append(needed)
    for variant_set in variant_sets:
        if variant_set is not None and _is_weighted(variant_set):
            needed = _KEYED_STICKINESS.get(variant_set.stickiness)
            if needed:
                needs.append(needed)
    return _Plan(
        kind=kind,
        values=values,
        static=_is_static(feature, raw_strategies),
        needs=tuple(dict.fromkeys(needs)),
        split_strategies=frozenset(split),
        error=error,
    )


def _is_static(feature: Feature, raw_strategies: list[dict[str, Any]]) -> bool:
    """On for every context with the same variant (when enabled)."""
    if feature.dependencies:
        return False
    variants = feature.variants
    if raw_strategies:
        first = raw_strategies[0]
        if first.get("constraints") or first.get("segments") or first.get("disabled"):
            return False
        if first.get("name") == "flexibleRollout":
            if _number(first.get("parameters", {}).get("rollout")) != 100:
                return False
        elif first.get("name") != "default":
            return False
        variants = feature.strategies[0].variants or feature.variants
    if variants is None:
        return True
    weighted = [v for v in variants.variants if v.weight > 0]
    return len(weighted) <= 1 and not variants.has_overrides


def _is_weighted(variants: VariantSet) -> bool:
    return sum(1 for v in variants.variants if v.weight > 0) > 1


def _split_needs(raw: Mapping[str, Any]) -> frozenset[str] | None:
    """None if the strategy is no percentage split; else the fields it hashes (empty: random)."""
    name = raw.get("name")
    params = raw.get("parameters") or {}
    if name == "flexibleRollout":
        rollout = _number(params.get("rollout"))
        if rollout is None or not 0 < rollout < 100:
            return None
        stickiness = str(params.get("stickiness") or "default").strip() or "default"
        return _KEYED_STICKINESS.get(stickiness, frozenset())
    if name in ("gradualRolloutUserId", "gradualRolloutSessionId", "gradualRolloutRandom"):
        percentage = _number(params.get("percentage"))
        if percentage is None or not 0 < percentage < 100:
            return None
        if name == "gradualRolloutRandom":
            return frozenset()
        return frozenset({"userId" if name == "gradualRolloutUserId" else "sessionId"})
    return None


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


_PAYLOAD_KINDS = {"string": Kind.STRING, "csv": Kind.STRING, "number": Kind.NUMBER}
_PAYLOAD_KINDS["json"] = Kind.OBJECT


def _values(
    flag: str, variant_sets: list[VariantSet]
) -> tuple[Kind, dict[str, Any], tuple[ErrorCode, str] | None]:
    """The flag's type, each variant's value, or the error every evaluation will give."""
    variants = [variant for variant_set in variant_sets for variant in variant_set.variants]
    kinds: dict[Kind, str] = {}
    bare: list[str] = []
    for variant in variants:
        payload = variant.payload
        if payload is None:
            bare.append(variant.name)
            continue
        payload_type = payload.get("type")
        kind = _PAYLOAD_KINDS.get(payload_type) if isinstance(payload_type, str) else None
        if kind is None:
            details = f"flag {flag!r}: variant {variant.name!r} has payload type {payload_type!r}"
            return Kind.STRING, {}, (ErrorCode.PARSE_ERROR, details)
        kinds.setdefault(kind, variant.name)
    if not kinds:
        return Kind.BOOLEAN, {}, None
    if len(kinds) > 1 or (bare and Kind.STRING not in kinds):
        described = [f"{name!r} ({kind.value})" for kind, name in kinds.items()]
        described += [f"{name!r} (no payload)" for name in bare[:1]]
        details = f"flag {flag!r}: variants mix value types: {', '.join(described)}"
        return next(iter(kinds)), {}, (ErrorCode.TYPE_MISMATCH, details)
    (kind,) = kinds
    values: dict[str, Any] = {}
    for variant in variants:
        text = variant.payload.get("value") if variant.payload is not None else variant.name
        try:
            values[variant.name] = _parse(kind, text)
        except ValueError as error:
            details = f"flag {flag!r}: variant {variant.name!r}: {error}"
            return kind, {}, (ErrorCode.PARSE_ERROR, details)
    return kind, values, None


def _parse(kind: Kind, text: object) -> Any:
    if not isinstance(text, str):
        raise ValueError(f"payload value must be a string, got {type_name(text)}")
    if kind is Kind.STRING:
        return text
    if kind is Kind.NUMBER:
        stripped = text.strip()
        try:
            return int(stripped)
        except ValueError:
            pass
        try:
            number = float(stripped)
        except ValueError:
            raise ValueError(f"number payload {text[:64]!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"number payload {text[:64]!r} is not finite")
        return number
    try:
        value = json.loads(text)
    except ValueError:
        raise ValueError(f"json payload is not JSON: {text[:64]!r}") from None
    if not isinstance(value, dict | list):
        raise ValueError(f"json payload is {type_name(value)}, not an object or array")
    return value
