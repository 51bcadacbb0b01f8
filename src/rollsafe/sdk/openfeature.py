"""An OpenFeature provider over a rollsafe flag client (`FlagClient` or `AsyncFlagClient`).

Booleans are ``is_enabled``. Strings, numbers and objects come from the variant
the flag assigns: its payload (``string``/``csv``, ``number``, ``json``), or for
strings without a payload the variant's name. A flag that is off, or on without
a variant, gives the default (reason ``DISABLED`` or ``DEFAULT``); an unknown
flag the default with ``FLAG_NOT_FOUND``; a payload of the wrong type the
default with ``TYPE_MISMATCH``. Each update of the client emits
``PROVIDER_CONFIGURATION_CHANGED`` with the names of the flags that changed.

The evaluation context maps as Unleash's: the targeting key is ``userId``;
attributes (``sessionId``, ``remoteAddress``, ``environment``, custom ones) are
context fields, so constraints on custom fields see them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType, Reason
from openfeature.provider import AbstractProvider, Metadata

from rollsafe.sdk import variants
from rollsafe.sdk.base import ClientBase, FlagsChanged
from rollsafe.sdk.client import FlagClient

T = TypeVar("T")
ObjectValue = Sequence[FlagValueType] | Mapping[str, FlagValueType]


class _MismatchError(Exception):
    pass


def unleash_context(context: EvaluationContext | None) -> dict[str, Any]:
    """The rollsafe (Unleash) context of an OpenFeature evaluation context."""
    if context is None:
        return {}
    fields: dict[str, Any] = dict(context.attributes)
    if context.targeting_key:
        fields["userId"] = context.targeting_key
    return fields


class RollsafeProvider(AbstractProvider):
    """OpenFeature provider; ``initialize`` starts a `FlagClient` that is not started yet.

    ``ready_timeout``: seconds ``initialize`` waits for the first flags from the
    service (0: do not wait; the bootstrap or defaults serve meanwhile).
    ``own_client``: stop the client on ``shutdown``.
    """

    def __init__(
        self, client: ClientBase, *, ready_timeout: float = 0.0, own_client: bool = False
    ) -> None:
        super().__init__()
        self.client = client
        self.ready_timeout = ready_timeout
        self.own_client = own_client
        self._remove: Callable[[], None] | None = None

    def get_metadata(self) -> Metadata:
        return Metadata(name="rollsafe")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        del evaluation_context
        if self._remove is None:
            self._remove = self.client.add_listener(self._changed)
        if isinstance(self.client, FlagClient):
            self.client.start()
            if self.ready_timeout > 0:
                self.client.wait_until_ready(self.ready_timeout)

    def shutdown(self) -> None:
        if self._remove is not None:
            self._remove()
            self._remove = None
        if self.own_client and isinstance(self.client, FlagClient):
            self.client.stop()

    def _changed(self, event: FlagsChanged) -> None:
        self.emit_provider_configuration_changed(
            ProviderEventDetails(
                flags_changed=sorted(event.names),
                metadata={"revision": event.revision if event.revision is not None else -1},
            )
        )

    # -- resolution -----------------------------------------------------------------------

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        engine = self.client.engine
        if flag_key not in engine:
            return _not_found(flag_key, default_value)
        try:
            value = engine.is_enabled(flag_key, unleash_context(evaluation_context))
        except Exception as error:
            return _error(default_value, ErrorCode.GENERAL, str(error))
        variants.note(flag_key, variants.ON if value else variants.OFF)
        return FlagResolutionDetails(
            value=value,
            reason=Reason.TARGETING_MATCH if value else Reason.DISABLED,
            variant="on" if value else "off",
        )

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        return self._variant(flag_key, default_value, evaluation_context, _string)

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        return self._variant(flag_key, default_value, evaluation_context, _integer)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._variant(flag_key, default_value, evaluation_context, _float)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: ObjectValue,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[ObjectValue]:
        return self._variant(flag_key, default_value, evaluation_context, _object)

    def _variant(
        self,
        flag_key: str,
        default_value: T,
        evaluation_context: EvaluationContext | None,
        convert: Callable[[dict[str, Any]], T],
    ) -> FlagResolutionDetails[T]:
        engine = self.client.engine
        if flag_key not in engine:
            return _not_found(flag_key, default_value)
        try:
            variant = engine.get_variant(flag_key, unleash_context(evaluation_context))
        except Exception as error:
            return _error(default_value, ErrorCode.GENERAL, str(error))
        name = variant.get("name")
        variants.note(flag_key, str(name))
        if not variant.get("enabled"):
            reason = Reason.DEFAULT if variant.get("feature_enabled") else Reason.DISABLED
            return FlagResolutionDetails(value=default_value, reason=reason, variant=name)
        try:
            value = convert(variant)
        except _MismatchError as mismatch:
            return _error(default_value, ErrorCode.TYPE_MISMATCH, f"{flag_key}: {mismatch}")
        return FlagResolutionDetails(value=value, reason=Reason.TARGETING_MATCH, variant=name)


def _not_found(flag_key: str, default_value: T) -> FlagResolutionDetails[T]:
    return _error(default_value, ErrorCode.FLAG_NOT_FOUND, f"no flag {flag_key!r}")


def _error(default_value: T, code: ErrorCode, message: str) -> FlagResolutionDetails[T]:
    return FlagResolutionDetails(
        value=default_value, reason=Reason.ERROR, error_code=code, error_message=message
    )


def _payload(variant: dict[str, Any], *kinds: str) -> str | None:
    payload = variant.get("payload")
    if not isinstance(payload, dict):
        return None
    if payload.get("type") not in kinds:
        raise _MismatchError(f"variant {variant.get('name')!r} has a {payload.get('type')} payload")
    value = payload.get("value")
    return value if isinstance(value, str) else json.dumps(value)


def _string(variant: dict[str, Any]) -> str:
    value = _payload(variant, "string", "csv")
    return value if value is not None else str(variant.get("name"))


def _float(variant: dict[str, Any]) -> float:
    value = _payload(variant, "number")
    try:
        if value is None:
            _missing(variant)
        return float(value)
    except ValueError:
        raise _MismatchError(f"payload {value!r} is not a number") from None


def _integer(variant: dict[str, Any]) -> int:
    number = _float(variant)
    if not number.is_integer():
        raise _MismatchError(f"payload {number!r} is not an integer")
    return int(number)


def _object(variant: dict[str, Any]) -> ObjectValue:
    value = _payload(variant, "json")
    if value is None:
        _missing(variant)
    try:
        parsed = json.loads(value)
    except ValueError:
        raise _MismatchError("payload is not JSON") from None
    if not isinstance(parsed, dict | list):
        raise _MismatchError("payload is JSON but not an object or array")
    return parsed


def _missing(variant: dict[str, Any]) -> NoReturn:
    raise _MismatchError(f"variant {variant.get('name')!r} has no payload")
