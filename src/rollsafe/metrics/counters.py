"""Counters read from outside, turned into increases: what every non-scrape source adds up.

A backend reports cumulative counters (since its process started, or any fixed
point); the judge wants totals that only grow from the source's first look.
Each counter is tracked by a key of the caller's choosing (a series' labels, an
arm and a field): the first value seen counts in full (the judge takes the first
look as its reference, so only what happens after it matters), a higher value
adds the difference, and a lower value is a reset (the counter restarted from
zero) and adds its value in full.
"""

from __future__ import annotations

from collections.abc import Hashable

MAX_COUNTERS = 100_000
"""Counters remembered; beyond this the least recently updated are forgotten."""


class CounterTracker:
    def __init__(self, max_counters: int = MAX_COUNTERS) -> None:
        self._last: dict[Hashable, float] = {}
        self._max = max_counters

    def increase(self, key: Hashable, value: float) -> float:
        """How much counter ``key`` grew since it was last seen at ``value``."""
        last = self._last.pop(key, None)  # re-inserted last: dict order is recency
        self._last[key] = value
        if len(self._last) > self._max:
            del self._last[next(iter(self._last))]
        if last is None or value < last:
            return value
        return value - last
