"""Evaluation contexts: how a field name is looked up, and the predicate type built on them.

A context is a mapping with Unleash's keys (``userId``, ``sessionId``,
``remoteAddress``, ``currentTime``, ``environment``, ``appName``) and custom
fields under ``properties``. A field is looked up at the top level first, then
in ``properties``; ``None`` and ``""`` count as absent (as in Unleash). Values
that are not strings are compared by their text (``123`` as ``"123"``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeAlias

Context: TypeAlias = Mapping[str, Any]
Predicate: TypeAlias = Callable[[Context], bool]

EMPTY_CONTEXT: Context = MappingProxyType({})


def never(context: Context) -> bool:
    """The predicate of something that can never match (unknown strategy or operator)."""
    return False


def always(context: Context) -> bool:
    return True


def stringify(value: object) -> str:
    """The text a non-string context value is compared as."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def resolve_raw(context: Context, field: str) -> Any:
    """The value of ``field``: top level, else ``properties``; None when absent or empty."""
    value = context.get(field)
    if value is None or value == "":
        properties = context.get("properties")
        if not isinstance(properties, Mapping):
            return None
        value = properties.get(field)
        if value is None or value == "":
            return None
    return value


def resolve(context: Context, field: str) -> str | None:
    """`resolve_raw` as text."""
    value = resolve_raw(context, field)
    if value is None or value.__class__ is str:
        return value
    return stringify(value)
