"""Type aliases and protocols shared across layers (structlog-style: one place to look)."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, Protocol, TypeAlias, TypedDict

JSON: TypeAlias = dict[str, Any]
Arm: TypeAlias = Literal["canary", "baseline"]


class Observation(TypedDict):
    """One scrape of one arm; counters are cumulative as Prometheus exposes them.

    This is also the JSON-lines format of ``rollsafe judge replay`` (DESIGN.md).
    """

    t: float
    arm: str
    requests: NotRequired[float]
    errors: NotRequired[float]
    latency_seconds_bucket: NotRequired[dict[str, float]]
    memory_bytes: NotRequired[float]


class MetricSource(Protocol):
    """Where observations come from (scrape, Prometheus); one call is one look."""

    def observe(self, t: float) -> list[Observation]:
        """Cumulative observations per arm at time ``t``; raises MetricsError on failure."""
        ...

    def close(self) -> None: ...
