"""Requests counted and timed per flag variant, in the metric names rollsafe reads.

A request that evaluated flags counts once for each flag it evaluated:

- ``http_requests_total{flag, variant, status[, release]}`` (counter);
- ``http_request_duration_seconds{flag, variant[, release]}`` (histogram, fixed
  buckets from 1 ms to 2.5 s, as the sample shop's);

plus the process's ``process_resident_memory_bytes`` and ``process_start_time_seconds``
(which `rollsafe.metrics.ScrapeSource` reads for the memory guard and to notice a
restarted instance). ``variant`` is ``on``/``off`` for ``is_enabled`` and the variant's
name for ``get_variant``, so a plan's scrape metrics select one flag and compare its
arms with ``match: {flag: NAME}``, ``canary: "on"``, ``baseline: "off"``.

A request that evaluated no flag counts once with ``flag=""`` and ``variant="none"``:
it belongs to neither arm, because a baseline padded with requests that never met
the flag (health checks, other routes) would not be comparable with the canary.
``release`` is there when the release is known (``ROLLSAFE_RELEASE``, which rollsafe's
targets set), so the same series also compare releases (``arms: release``).

Memory is bounded: at most ``max_variants`` distinct (flag, variant) pairs are kept
(later ones count under ``flag="_overflow", variant="_overflow"``), label values are
cut to 128 characters, and statuses outside 100-599 count as ``"0"``.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1,
    0.15, 0.2, 0.25, 0.3, 0.5, 0.75, 1.0, 2.5,
)  # fmt: skip
"""Upper bounds of the latency buckets in seconds (``+Inf`` is added)."""
NO_FLAG = ("", "none")
"""The (flag, variant) of a request that evaluated no flag."""
OVERFLOW = ("_overflow", "_overflow")
"""The (flag, variant) that pairs beyond ``max_variants`` count under."""
MAX_LABEL_LENGTH = 128
DEFAULT_MAX_VARIANTS = 100

Pair = tuple[str, str]


@dataclass
class _Histogram:
    counts: list[int]
    """Per bucket (not cumulative); the last one is ``+Inf``."""
    total: float = 0.0


@dataclass
class _Arm:
    """Everything recorded for one (flag, variant) pair."""

    statuses: dict[str, int] = field(default_factory=dict)
    latency: _Histogram = field(default_factory=lambda: _Histogram([0] * (len(BUCKETS) + 1)))


class RequestMetrics(Collector):
    """Bounded per-variant request counters and latency histograms (thread-safe).

    ``registry``: where they are exposed; by default a registry of their own, which
    also holds the process's metrics. Pass ``prometheus_client.REGISTRY`` to serve
    the application's own prometheus_client metrics beside them (that registry
    already has the process's metrics).
    """

    def __init__(
        self,
        *,
        release: str | None = None,
        max_variants: int = DEFAULT_MAX_VARIANTS,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if max_variants < 1:
            raise ValueError(f"max_variants must be at least 1, got {max_variants}")
        self.release = release[:MAX_LABEL_LENGTH] if release else None
        self.max_variants = max_variants
        self._arms: dict[Pair, _Arm] = {}
        self._lock = threading.Lock()
        if registry is None:
            registry = CollectorRegistry(auto_describe=True)
            ProcessCollector(registry=registry)
        self.registry = registry
        registry.register(self)

    def record(self, variants: Mapping[str, str], status: int, seconds: float) -> None:
        """Count one request that answered ``status`` in ``seconds``, once per noted flag."""
        code = str(status) if 100 <= status <= 599 else "0"
        bucket = bisect.bisect_left(BUCKETS, seconds) if seconds >= 0 else 0
        pairs = list(variants.items()) or [NO_FLAG]
        with self._lock:
            for flag, variant in pairs:
                arm = self._arm((flag[:MAX_LABEL_LENGTH], variant[:MAX_LABEL_LENGTH]))
                arm.statuses[code] = arm.statuses.get(code, 0) + 1
                arm.latency.counts[bucket] += 1
                arm.latency.total += max(seconds, 0.0)

    def exposition(self) -> bytes:
        """The registry's metrics in Prometheus's text format (version 0.0.4)."""
        return bytes(generate_latest(self.registry))

    def collect(self) -> Iterator[Metric]:
        """Called by the registry at each exposition: a snapshot taken under the lock."""
        with self._lock:
            snapshot = [
                (pair, dict(arm.statuses), list(arm.latency.counts), arm.latency.total)
                for pair, arm in self._arms.items()
            ]
        extra = [self.release] if self.release else []
        extra_names = ["release"] if self.release else []
        requests = CounterMetricFamily(
            "http_requests",
            "HTTP requests served, by flag, the variant the request got, status and release.",
            labels=["flag", "variant", "status", *extra_names],
        )
        latency = HistogramMetricFamily(
            "http_request_duration_seconds",
            "Time to serve an HTTP request, by flag, variant and release.",
            labels=["flag", "variant", *extra_names],
        )
        for (flag, variant), statuses, counts, total in snapshot:
            for status, count in sorted(statuses.items()):
                requests.add_metric([flag, variant, status, *extra], count)
            latency.add_metric([flag, variant, *extra], _cumulative(counts), total)
        yield requests
        yield latency

    def _arm(self, pair: Pair) -> _Arm:
        arm = self._arms.get(pair)
        if arm is None:
            if len(self._arms) >= self.max_variants and pair != NO_FLAG:
                pair = OVERFLOW
                arm = self._arms.get(pair)
            if arm is None:
                arm = self._arms[pair] = _Arm()
        return arm


def _cumulative(counts: Sequence[int]) -> list[tuple[str, float]]:
    buckets: list[tuple[str, float]] = []
    running = 0
    for bound, count in zip((*BUCKETS, math.inf), counts, strict=True):
        running += count
        buckets.append(("+Inf" if bound == math.inf else repr(bound), float(running)))
    return buckets
