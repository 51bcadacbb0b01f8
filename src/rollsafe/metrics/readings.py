"""One arm's numbers as an outside backend reports them, checked field by field.

The ``command`` and ``http`` sources read JSON written by someone else's script
or service; anything but DESIGN.md's observation fields with the right types is
refused with the field named, so a bad answer is a failed look (missing
evidence), never numbers the judge would trust.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rollsafe.errors import MetricsError
from rollsafe.metrics.arms import ARMS
from rollsafe.metrics.counters import CounterTracker
from rollsafe.metrics.totals import ArmTotals
from rollsafe.typing import Arm, Observation

_FIELDS = frozenset({"t", "arm", "requests", "errors", "latency_seconds_bucket", "memory_bytes"})


@dataclass(frozen=True)
class Reading:
    """Cumulative counters (since any fixed point) and the memory gauge of one arm."""

    requests: float
    errors: float
    buckets: dict[str, float]
    memory: float | None


def parse_reading(data: Any) -> Reading:
    """A Reading from an observation-shaped JSON object; MetricsError naming what is wrong."""
    if not isinstance(data, Mapping):
        raise MetricsError(f"expected a JSON object (an observation), got {_kind(data)}")
    unknown = sorted(str(key) for key in data if key not in _FIELDS)
    if unknown:
        raise MetricsError(f"unknown field {unknown[0]!r} (expected {', '.join(sorted(_FIELDS))})")
    for required in ("requests", "errors"):
        if required not in data:
            raise MetricsError(f"missing field {required!r}")
    requests = _count(data["requests"], "requests")
    errors = _count(data["errors"], "errors")
    if errors > requests:
        raise MetricsError(f"errors ({errors:g}) exceed requests ({requests:g})")
    buckets: dict[str, float] = {}
    raw_buckets = data.get("latency_seconds_bucket")
    if raw_buckets is not None:
        if not isinstance(raw_buckets, Mapping):
            raise MetricsError(
                f"latency_seconds_bucket: expected an object of bound to count, "
                f"got {_kind(raw_buckets)}"
            )
        for bound, count in raw_buckets.items():
            buckets[le_key(str(bound))] = _count(count, f"latency_seconds_bucket[{bound!r}]")
    memory = data.get("memory_bytes")
    return Reading(
        requests, errors, buckets, None if memory is None else _count(memory, "memory_bytes")
    )


class ArmReadings:
    """Both arms' totals, grown by one reading per arm and look (resets count from zero)."""

    def __init__(self) -> None:
        self._counters = CounterTracker()
        self._totals: dict[Arm, ArmTotals] = {arm: ArmTotals() for arm in ARMS}

    def look(self, t: float, readings: Mapping[Arm, Reading]) -> list[Observation]:
        """Cumulative observations for ``canary`` then ``baseline`` after this look's readings.

        Callers read both arms before calling, so a failed look changes no total.
        """
        for arm, reading in readings.items():
            totals, counters = self._totals[arm], self._counters
            totals.requests += counters.increase((arm, "requests"), reading.requests)
            totals.errors += counters.increase((arm, "errors"), reading.errors)
            for le, count in reading.buckets.items():
                totals.add_bucket(le, counters.increase((arm, "bucket", le), count))
        return [self._totals[arm].observation(t, arm, readings[arm].memory) for arm in ARMS]


def le_key(raw: str) -> str:
    """A bucket bound spelled one way: ``"0.05"``, ``"1.0"``, ``"+Inf"``; MetricsError if bad."""
    try:
        bound = float(raw)
    except ValueError:
        raise MetricsError(f"bucket bound {raw!r} is not a number") from None
    if math.isnan(bound):
        raise MetricsError("bucket bound NaN")
    return "+Inf" if bound == math.inf else repr(bound)


def _count(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MetricsError(f"{field}: expected a number, got {_kind(value)}")
    if not math.isfinite(value) or value < 0:
        raise MetricsError(f"{field}: expected a finite number >= 0, got {value!r}")
    return float(value)


def _kind(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'…' if len(text) > 60 else ''}"
