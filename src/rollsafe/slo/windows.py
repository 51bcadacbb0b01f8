"""Trailing windows of cumulative (bad, total) counts, bounded in memory whatever their length.

A burn-rate tier looks back hours or days, and a rollout looks every second: a
window keeping every look of 3 days would hold 259,200 of them. A
:class:`CountWindow` keeps at most ``resolution`` anchors spaced ``seconds /
resolution`` apart, plus the newest look, so its start is exact to within that
spacing (0.4% of the window by default) and its size is fixed.

What a window has not seen counts as clean traffic at the rate it has seen:
rollsafe sees the service from the rollout's first look on, so the part of a
window before it adds requests but no errors. ``coverage`` is the share of the
window that was seen; a ratio times ``coverage`` is then the budget the rollout
itself has burned, which is what Prometheus's burn-rate alerts compute on a
service whose errors began with the release.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Counts:
    t: float
    bad: float
    total: float


@dataclass(frozen=True)
class Reading:
    """What a window holds now: bad and total requests over ``span`` seconds of it."""

    bad: float
    total: float
    span: float
    seconds: float

    @property
    def ratio(self) -> float:
        return self.bad / self.total if self.total > 0 else 0.0

    @property
    def coverage(self) -> float:
        return min(self.span / self.seconds, 1.0)


@dataclass
class CountWindow:
    seconds: float
    resolution: int = 256
    anchors: deque[Counts] = field(default_factory=deque)
    newest: Counts | None = None

    def add(self, counts: Counts) -> None:
        self.newest = counts
        spacing = self.seconds / self.resolution
        if not self.anchors or counts.t - self.anchors[-1].t >= spacing:
            self.anchors.append(counts)
        horizon = counts.t - self.seconds
        while len(self.anchors) > 1 and self.anchors[1].t <= horizon:
            self.anchors.popleft()

    def reading(self) -> Reading | None:
        """The window's increase, or None before it spans any time."""
        if self.newest is None or not self.anchors:
            return None
        first, last = self.anchors[0], self.newest
        span = min(last.t - first.t, self.seconds)
        if span <= 0:
            return None
        bad, total = max(last.bad - first.bad, 0.0), max(last.total - first.total, 0.0)
        return Reading(min(bad, total), total, span, self.seconds)
