"""Cumulative counters per arm turned into increments, with counter resets handled.

Counters (requests, errors, histogram buckets) arrive cumulative, as Prometheus
exposes them. The first observation of an arm is the reference: only what
happens after it counts. A counter that first appears later starts from 0 (an
absent Prometheus series has had no increments). When any counter of an arm
goes down (a process restarted, or one of several summed instances did), the
arm's increments for that look are dropped and every counter is re-referenced
at its new value: a reset loses at most one look of data and never counts the
same requests twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

Histogram = tuple[tuple[float, ...], list[float]]
"""Finite bucket bounds (ascending) and cumulative counts: one per bound, then the total."""


_Layout = tuple[tuple[float, ...], tuple[int, ...], bool]
_LAYOUTS: dict[tuple[Any, ...], _Layout | None] = {}
_MAX_LAYOUTS = 256


def parse_histogram(buckets: Any) -> Histogram | None:
    """``{"0.05": 800, "+Inf": 1200}`` as bounds and counts; None when malformed.

    The bucket layout (which key is which bound, in which order) is parsed once
    per distinct set of keys and cached.
    """
    if not isinstance(buckets, Mapping) or not buckets:
        return None
    keys = tuple(buckets)
    if keys in _LAYOUTS:
        layout = _LAYOUTS[keys]
    else:
        layout = _layout(keys)
        if len(_LAYOUTS) >= _MAX_LAYOUTS:
            _LAYOUTS.clear()
        _LAYOUTS[keys] = layout
    if layout is None:
        return None
    bounds, order, has_inf = layout
    values = list(buckets.values())
    try:
        counts = [float(values[i]) for i in order]
    except (TypeError, ValueError):
        return None
    if not has_inf:
        counts.append(counts[-1])  # no +Inf bucket: the last bucket is the total
    return bounds, counts


def _layout(keys: tuple[Any, ...]) -> _Layout | None:
    try:
        parsed = [
            (math.inf if key in ("+Inf", "Inf", "inf", "+inf") else float(key), i)
            for i, key in enumerate(keys)
        ]
    except (TypeError, ValueError):
        return None
    parsed.sort()
    bounds = tuple(bound for bound, _ in parsed if math.isfinite(bound))
    infinite = len(parsed) - len(bounds)
    if infinite > 1 or any(math.isnan(bound) for bound, _ in parsed):
        return None
    return bounds, tuple(i for _, i in parsed), infinite == 1


class ArmCounters:
    """One arm's last cumulative values and its increments since the last collected interval."""

    __slots__ = (
        "gauges",
        "histograms",
        "last",
        "last_histograms",
        "looks",
        "pending",
        "pending_histograms",
        "resets",
        "seen",
    )

    def __init__(self) -> None:
        self.seen = False
        self.last: dict[str, float] = {}
        self.pending: dict[str, float] = {}
        self.last_histograms: dict[str, list[float]] = {}
        self.pending_histograms: dict[str, list[float]] = {}
        self.histograms: dict[str, tuple[float, ...]] = {}
        self.gauges: dict[str, tuple[float, float]] = {}
        """Gauge readings (t, value) since the last :meth:`take`."""
        self.looks = 0
        self.resets = 0

    def observe(
        self,
        observation: Mapping[str, Any],
        t: float,
        counters: tuple[str, ...],
        histograms: tuple[str, ...],
        gauges: tuple[str, ...],
    ) -> None:
        """Record one observation of this arm."""
        first = not self.seen
        self.seen = True
        self.looks += 1
        last = self.last
        current: dict[str, float] = {}
        increments: dict[str, float] = {}
        reset = False
        for name in counters:
            value = _number(observation.get(name))
            if value is None:
                continue
            current[name] = value
            if not first:
                delta = increments[name] = value - last.get(name, 0.0)
                reset = reset or delta < 0
        current_histograms: dict[str, list[float]] = {}
        histogram_increments: dict[str, list[float]] = {}
        for name in histograms:
            parsed = parse_histogram(observation.get(name))
            if parsed is None:
                continue
            bounds, counts = parsed
            known = self.histograms.setdefault(name, bounds)
            if bounds != known:
                continue  # a different bucket layout: not comparable, skip it
            current_histograms[name] = counts
            if not first:
                previous = self.last_histograms.get(name)
                if previous is None:
                    deltas = list(counts)
                else:
                    deltas = [c - p for c, p in zip(counts, previous, strict=True)]
                    reset = reset or min(deltas) < 0
                histogram_increments[name] = deltas
        for name in gauges:
            value = _number(observation.get(name))
            if value is not None:
                self.gauges[name] = (t, value)
        last.update(current)
        self.last_histograms.update(current_histograms)
        if reset:
            self.resets += 1
            return
        pending = self.pending
        for name, delta in increments.items():
            pending[name] = pending.get(name, 0.0) + delta
        for name, deltas in histogram_increments.items():
            into = self.pending_histograms.get(name)
            if into is None:
                self.pending_histograms[name] = deltas
            else:
                for i, delta in enumerate(deltas):
                    into[i] += delta

    def take(
        self,
    ) -> tuple[dict[str, float], dict[str, list[float]], dict[str, tuple[float, float]]]:
        """Counter increments, histogram increments and last gauge readings since the last call."""
        taken = self.pending, self.pending_histograms, self.gauges
        self.pending, self.pending_histograms, self.gauges = {}, {}, {}
        self.looks = 0
        return taken


def _number(value: Any) -> float | None:
    """A finite float, or None for anything else (missing, text, bool, NaN, infinity)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
