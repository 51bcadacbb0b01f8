"""Type checks for Unleash documents that fail with a `FlagError` saying where and why.

Every compiler in this package checks the shape of what it reads with these
helpers, so a wrong type is refused when the engine is built (naming the
feature or segment and the field path), never discovered mid-evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from rollsafe.errors import FlagError


def fail(owner: str, field: str, message: str) -> NoReturn:
    """Raise `FlagError` as ``owner: field: message`` (owner like ``feature 'x'``)."""
    raise FlagError(f"{owner}: {field}: {message}")


def type_name(value: object) -> str:
    """JSON-ish name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def expect_mapping(value: object, owner: str, field: str) -> Mapping[str, Any]:
    if value.__class__ is dict:  # what JSON gives; the ABC check costs several times more
        return value
    if not isinstance(value, Mapping):
        fail(owner, field, f"expected an object, got {type_name(value)}")
    return value


def expect_optional_mapping(value: object, owner: str, field: str) -> Mapping[str, Any]:
    """A mapping, with null or absence meaning empty."""
    if value is None:
        return {}
    return expect_mapping(value, owner, field)


def expect_list(value: object, owner: str, field: str) -> Sequence[Any]:
    """A JSON array, with null or absence meaning empty."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        fail(owner, field, f"expected an array, got {type_name(value)}")
    return value


def expect_str(value: object, owner: str, field: str, *, non_empty: bool = False) -> str:
    if not isinstance(value, str):
        fail(owner, field, f"expected a string, got {type_name(value)}")
    if non_empty and not value:
        fail(owner, field, "must not be empty")
    return value


def expect_optional_str(value: object, owner: str, field: str) -> str | None:
    if value is None:
        return None
    return expect_str(value, owner, field)


def expect_bool(value: object, owner: str, field: str, *, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        fail(owner, field, f"expected a boolean, got {type_name(value)}")
    return value


def expect_int(value: object, owner: str, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        fail(owner, field, f"expected an integer, got {type_name(value)}")
    return value


def expect_number(value: object, owner: str, field: str) -> float:
    """A finite number: a JSON number or a numeric string (Unleash parameters are strings)."""
    if isinstance(value, bool):
        fail(owner, field, f"expected a number, got {type_name(value)}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        parsed = parse_number(value)
        if parsed is None:
            fail(owner, field, f"expected a number, got {value!r}")
        number = parsed
    else:
        fail(owner, field, f"expected a number, got {type_name(value)}")
    if not math.isfinite(number):
        fail(owner, field, f"expected a finite number, got {value!r}")
    return number


def parse_number(text: str) -> float | None:
    """A decimal number from text (surrounding blanks allowed), or None; no inf, nan or ``1_0``."""
    text = text.strip()
    if not text or "_" in text:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
