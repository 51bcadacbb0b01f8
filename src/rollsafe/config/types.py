"""Field types shared by the plan models: durations and percentages with readable errors."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``250ms``, ``10s``, ``5m``, ``1h`` or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"must be a duration like 10s, 5m or 1h, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError(f"must be a duration like 10s, 5m or 1h, got {value!r}")
    if not math.isfinite(seconds):
        raise ValueError(f"must be a finite duration like 10s, 5m or 1h, got {value!r}")
    if seconds < 0:
        raise ValueError(f"must not be negative, got {value!r}")
    return seconds


def _percent(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number between 0 and 100, got {value!r}")
    if not 0 <= value <= 100:
        raise ValueError(f"must be between 0 and 100, got {value!r}")
    return float(value)


def _fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number between 0 and 1, got {value!r}")
    if not 0 <= value <= 1:
        raise ValueError(f"must be between 0 and 1, got {value!r}")
    return float(value)


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds; written in plans as ``10s``, ``5m``, ``1h`` or ``250ms``."""

Percent = Annotated[float, BeforeValidator(_percent)]
Fraction = Annotated[float, BeforeValidator(_fraction)]


class StrictModel(BaseModel):
    """Unknown keys are errors, not silently ignored; models are immutable once loaded.

    No number may be NaN or infinite: ``for: .nan`` compares false with everything,
    which would silently disable a guard or never end a wait.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def exactly_one_kind(data: Any, kinds: tuple[str, ...]) -> Any:
    """A list item with exactly one of ``kinds`` as its key (``- flag: {...}``), as a mapping.

    A kind with nothing after its colon (``- promote:``) means "no options": ``{}``.
    """
    if not isinstance(data, dict):
        raise ValueError(f"must be a mapping with one of {', '.join(kinds)}")
    found_kinds = [key for key in data if key in kinds]
    if len(found_kinds) != 1:
        found = ", ".join(map(str, data)) or "nothing"
        raise ValueError(f"must have exactly one of {', '.join(kinds)}; found {found}")
    return {key: ({} if value is None else value) for key, value in data.items()}
