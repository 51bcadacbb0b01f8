"""Cumulative per-arm totals, and the Observation they make: shared by every metric source."""

from __future__ import annotations

from dataclasses import dataclass, field

from rollsafe.typing import Observation


@dataclass
class ArmTotals:
    """What one arm has counted since the source was created; only ever grows."""

    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[str, float] = field(default_factory=dict)

    def add_requests(self, increase: float, *, error: bool) -> None:
        self.requests += increase
        if error:
            self.errors += increase

    def add_bucket(self, le: str, increase: float) -> None:
        self.buckets[le] = self.buckets.get(le, 0.0) + increase

    def observation(self, t: float, arm: str, memory: float | None) -> Observation:
        observation: Observation = {
            "t": t,
            "arm": arm,
            "requests": self.requests,
            "errors": self.errors,
        }
        if self.buckets:
            observation["latency_seconds_bucket"] = dict(
                sorted(self.buckets.items(), key=lambda item: float(item[0]))
            )
        if memory is not None:
            observation["memory_bytes"] = memory
        return observation
