"""Trailing windows over looks: rates, quantiles and slopes from cumulative samples.

A look is the arms' cumulative counters at one time (the metric source keeps
them monotone across instance restarts). A value over a window is the
difference between the newest look and the oldest look inside the window, as
Prometheus' ``increase()`` does; a slope is a least-squares fit.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Sample:
    t: float
    counters: dict[str, float]
    buckets: dict[float, float]
    memory_bytes: float | None
    failing_instances: int | None


def combine(observations: Iterable[Mapping[str, Any]], arm: str) -> Sample | None:
    """One sample from the per-arm observations of a look; ``arm="all"`` sums both arms."""
    chosen = [o for o in observations if arm == "all" or o.get("arm") == arm]
    if not chosen:
        return None
    counters: dict[str, float] = {}
    buckets: dict[float, float] = {}
    memory = [float(o["memory_bytes"]) for o in chosen if o.get("memory_bytes") is not None]
    for observation in chosen:
        for key, value in observation.items():
            if key in {"t", "arm", "memory_bytes", "latency_seconds_bucket"}:
                continue
            if isinstance(value, int | float):
                counters[key] = counters.get(key, 0.0) + float(value)
        for bound, count in (observation.get("latency_seconds_bucket") or {}).items():
            upper = math.inf if bound in ("+Inf", "inf", "Inf") else float(bound)
            buckets[upper] = buckets.get(upper, 0.0) + float(count)
    t = float(chosen[0]["t"])
    # Memory is per process, not per arm: both arms carry the same figure, so take the mean.
    mean_memory = sum(memory) / len(memory) if memory else None
    return Sample(t, counters, buckets, mean_memory, None)


@dataclass
class Window:
    """Samples of the last ``seconds``, plus the one just before, so a window is fully spanned."""

    seconds: float
    samples: deque[Sample] = field(default_factory=deque)

    def add(self, sample: Sample) -> None:
        self.samples.append(sample)
        horizon = sample.t - self.seconds
        while len(self.samples) > 2 and self.samples[1].t <= horizon:
            self.samples.popleft()

    @property
    def newest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def delta(self, key: str) -> float | None:
        if len(self.samples) < 2:
            return None
        first, last = self.samples[0].counters.get(key), self.samples[-1].counters.get(key)
        if first is None or last is None:
            return None
        return max(last - first, 0.0)

    def rate(self, numerator: str, denominator: str, min_denominator: float) -> float | None:
        over, under = self.delta(numerator), self.delta(denominator)
        if over is None or under is None or under < max(min_denominator, 1):
            return None
        return over / under

    def quantile(self, q: float, min_count: float) -> float | None:
        """``histogram_quantile`` over the window's bucket increases (linear within a bucket)."""
        if len(self.samples) < 2:
            return None
        first, last = self.samples[0].buckets, self.samples[-1].buckets
        bounds = sorted(last)
        increases = [max(last[b] - first.get(b, 0.0), 0.0) for b in bounds]
        if not bounds or increases[-1] < max(min_count, 1):
            return None
        rank = q * increases[-1]
        lower_bound, lower_count = 0.0, 0.0
        for bound, count in zip(bounds, increases, strict=True):
            if count >= rank:
                if math.isinf(bound):
                    return lower_bound  # as Prometheus: the highest finite bound
                if count == lower_count:
                    return bound
                return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                    count - lower_count
                )
            lower_bound, lower_count = bound, count
        return bounds[-1]

    def slower_than(self, threshold: float) -> tuple[float, float] | None:
        """(requests slower than ``threshold``, all requests) over the window, from its buckets.

        Slower means above the smallest bucket bound at or above the threshold, so
        requests between the threshold and that bound are not counted: the count is
        never more than the truth. None without two samples or any request.
        """
        if len(self.samples) < 2:
            return None
        first, last = self.samples[0].buckets, self.samples[-1].buckets
        bounds = sorted(last)
        if not bounds:
            return None
        total = max(last[bounds[-1]] - first.get(bounds[-1], 0.0), 0.0)
        if total <= 0:
            return None
        at = next((b for b in bounds if b >= threshold), None)
        if at is None or math.isinf(at):
            return 0.0, total
        below = max(last[at] - first.get(at, 0.0), 0.0)
        return max(total - below, 0.0), total

    def slope_per_second(self, min_span: float) -> float | None:
        """Least-squares slope of memory over the window, or None with too little of it."""
        points = [(s.t, s.memory_bytes) for s in self.samples if s.memory_bytes is not None]
        if len(points) < 3 or points[-1][0] - points[0][0] < min_span:
            return None
        n = len(points)
        mean_t = sum(t for t, _ in points) / n
        mean_y = sum(y for _, y in points) / n
        spread = sum((t - mean_t) ** 2 for t, _ in points)
        if spread == 0:
            return None
        return sum((t - mean_t) * (y - mean_y) for t, y in points) / spread
