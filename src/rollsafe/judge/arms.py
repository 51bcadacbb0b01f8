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
import operator
from collections.abc import Mapping
from typing import Any

Histogram = tuple[tuple[float, ...], list[float]]
"""Finite bucket bounds (ascending) and cumulative counts: one per bound, then the total."""


MAX_VALUE = 1e15
"""Larger counts, bytes or seconds are no measurement (a quadrillion requests, a petabyte)
but a corrupt or hostile one, and would overflow the statistics' gamma functions."""

_Layout = tuple[tuple[float, ...], tuple[int, ...] | None, bool]
_LAYOUTS: dict[tuple[Any, ...], _Layout | None] = {}
_MAX_LAYOUTS = 256
_UNKNOWN: Any = object()
_lt, _sub = operator.lt, operator.sub


def parse_histogram(buckets: Any) -> Histogram | None:
    """``{"0.05": 800, "+Inf": 1200}`` as bounds and counts; None when malformed.

    The bucket layout (which key is which bound, in which order) is parsed once
    per distinct set of keys and cached.
    """
    # A plain dict (JSON, the metric sources) skips the slower ABC isinstance check.
    if (buckets.__class__ is not dict and not isinstance(buckets, Mapping)) or not buckets:
        return None
    keys = tuple(buckets)
    layout = _LAYOUTS.get(keys, _UNKNOWN)  # one lookup: hashing the keys is not free
    if layout is _UNKNOWN:
        layout = _layout(keys)
        if len(_LAYOUTS) >= _MAX_LAYOUTS:
            _LAYOUTS.clear()
        _LAYOUTS[keys] = layout
    if layout is None:
        return None
    bounds, order, has_inf = layout
    try:
        if order is None:  # keys already in ascending order
            counts = list(map(float, buckets.values()))
        else:
            values = list(buckets.values())
            counts = [float(values[i]) for i in order]
    except (TypeError, ValueError, OverflowError):
        return None
    # Every count within +-MAX_VALUE (also no NaN or infinity). Usually one sum does: a
    # sum of magnitudes at most MAX_VALUE bounds each of them (rounding never makes a
    # running sum of nonnegative terms smaller than a term), and NaN fails it. A loop, not
    # sum(map(abs, ...)): compiled (mypyc), the floats stay unboxed.
    magnitude = 0.0
    for count in counts:
        magnitude += abs(count)
    if not magnitude <= MAX_VALUE:
        # A sum of finite values this small is finite; any NaN or infinity makes it not.
        total = sum(counts)
        if total - total != 0 or min(counts) < -MAX_VALUE or max(counts) > MAX_VALUE:
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
    order = tuple(i for _, i in parsed)
    return bounds, (None if order == tuple(range(len(order))) else order), infinite == 1


class ArmCounters:
    """One arm's cumulative values: the latest, and the reference they are counted from.

    :meth:`observe` only checks for resets and stores values; :meth:`take` turns
    them into increments since the previous take.
    """

    __slots__ = (
        "_counter_names",
        "_fresh_counts",
        "carried",
        "current",
        "gauges",
        "histogram_carried",
        "histogram_current",
        "histogram_deltas",
        "histogram_reference",
        "histograms",
        "looks",
        "reference",
        "resets",
        "seen",
    )

    def __init__(self) -> None:
        self.seen = False
        self.current: dict[str, float] = {}
        self.reference: dict[str, float] = {}
        self.carried: dict[str, float] = {}
        self.histogram_current: dict[str, list[float]] = {}
        self.histogram_reference: dict[str, list[float]] = {}
        self.histogram_carried: dict[str, list[float]] = {}
        self.histogram_deltas: dict[str, list[float]] = {}
        """Increments current - reference found by :meth:`observe`, for :meth:`take` to reuse."""
        self.histograms: dict[str, tuple[float, ...]] = {}
        """Bucket bounds per histogram field, fixed by the first histogram seen."""
        self.gauges: dict[str, tuple[float, float]] = {}
        """Gauge readings (t, value) since the last :meth:`take`."""
        self.looks = 0
        self.resets = 0
        self._fresh_counts: dict[str, float] | None = None
        """Counter increments found by :meth:`observe_taken`, for :meth:`take` to return."""
        self._counter_names: tuple[str, ...] | None = None
        """The counters tuple whose names are exactly :attr:`current`'s, once checked."""

    def observe(
        self,
        observation: Mapping[str, Any],
        t: float,
        counters: tuple[str, ...],
        histograms: tuple[str, ...],
        gauges: tuple[str, ...],
    ) -> None:
        """Record one observation of this arm."""
        if not (
            self.looks == 0
            and self.seen
            and self.observe_taken(observation, t, counters, histograms, gauges)
        ):
            self.observe_general(observation, t, counters, histograms, gauges)

    def observe_general(
        self,
        observation: Mapping[str, Any],
        t: float,
        counters: tuple[str, ...],
        histograms: tuple[str, ...],
        gauges: tuple[str, ...],
    ) -> None:
        """:meth:`observe` for any case (resets, gaps, new fields, odd values)."""
        self._fresh_counts = None
        self._counter_names = None
        first = not self.seen
        self.seen = True
        self.looks += 1
        current, reference = self.current, self.reference
        values: dict[str, float] = {}
        reset = False
        get = observation.get
        for name in counters:
            value = get(name)
            if value is None:
                continue
            if value.__class__ is not float or not -MAX_VALUE <= value <= MAX_VALUE:
                value = _number(value)
                if value is None:
                    continue
            previous = current.get(name)
            if previous is not None and value < previous:
                reset = True
            values[name] = value
        histogram_values: dict[str, list[float]] = {}
        fresh: dict[str, list[float]] = {}
        histogram_current, histogram_reference = self.histogram_current, self.histogram_reference
        for name in histograms:
            parsed = parse_histogram(get(name))
            if parsed is None:
                continue
            bounds, counts = parsed
            known = self.histograms.get(name)
            if known is None:
                self.histograms[name] = bounds
            elif known is not bounds and known != bounds:  # the same layout: the cached tuple
                continue  # a different bucket layout: not comparable, skip it
            previous_counts = histogram_current.get(name)
            if previous_counts is None:
                pass
            elif previous_counts is histogram_reference.get(name):
                # Taken since the previous observation (the common case): the increments
                # are the reset check too (for finite counts a - b < 0 exactly when a < b),
                # and take() returns them.
                deltas = list(map(_sub, counts, previous_counts))
                if min(deltas) < 0:
                    reset = True
                fresh[name] = deltas
            elif any(map(_lt, counts, previous_counts)):
                reset = True
            histogram_values[name] = counts
        for name in gauges:
            gauge = get(name)
            if gauge.__class__ is not float or not -MAX_VALUE <= gauge <= MAX_VALUE:
                gauge = _number(gauge)  # the common case (a float in range) skips this
            if gauge is not None:
                self.gauges[name] = (t, gauge)
        if first:
            reference.update(values)
            self.histogram_reference.update(histogram_values)
        elif reset:
            # Keep what was counted up to the previous observation; count again from here.
            self.histogram_deltas.clear()
            self.resets += 1
            for name, value in current.items():
                self.carried[name] = self.carried.get(name, 0.0) + value - reference[name]
            for name, counts in self.histogram_current.items():
                gone = [c - r for c, r in zip(counts, self.histogram_reference[name], strict=True)]
                kept = self.histogram_carried.get(name)
                self.histogram_carried[name] = (
                    gone if kept is None else [a + b for a, b in zip(kept, gone, strict=True)]
                )
            reference.update(values)
            self.histogram_reference.update(histogram_values)
        else:
            for name in values:
                if name not in reference:  # a counter appearing later counts from zero
                    reference[name] = 0.0
            for name, counts in histogram_values.items():
                if name not in self.histogram_reference:
                    self.histogram_reference[name] = [0.0] * len(counts)
            if len(fresh) != len(histogram_values):  # a second observation before take()
                for name in histogram_values:
                    self.histogram_deltas.pop(name, None)
            self.histogram_deltas.update(fresh)
        current.update(values)
        self.histogram_current.update(histogram_values)

    def observe_taken(
        self,
        observation: Mapping[str, Any],
        t: float,
        counters: tuple[str, ...],
        histograms: tuple[str, ...],
        gauges: tuple[str, ...],
    ) -> bool:
        """:meth:`observe` for the common case, or False (nothing changed) for any other.

        Only for an arm already seen and taken since (``looks == 0``), as :meth:`observe`
        calls it; :meth:`observe_general` handles whatever it returns False for.

        The common case: the arm was taken since its previous observation (so every
        reference equals the current value), and every field is present, well formed,
        known from before and not lower than before (no reset). The increments are then
        the new values minus the current ones, computed here, and :meth:`take` returns them:
        the same subtractions of the same floats as take() would do.
        """
        get = observation.get
        current = self.current
        if counters is not self._counter_names:
            if len(current) != len(counters) or any(name not in current for name in counters):
                return False
            self._counter_names = counters  # only the general code can add a name
        counts: dict[str, float] = {}
        values_now: dict[str, float] = {}
        # current holds exactly the counters' names (checked above): walking it finds each
        # previous value without a lookup.
        for name, previous in current.items():
            value = get(name)
            # previous is within +-MAX_VALUE already; NaN fails the comparison too.
            if value.__class__ is not float or not previous <= value <= MAX_VALUE:
                return False
            counts[name] = value - previous
            values_now[name] = value
        histogram_current, references = self.histogram_current, self.histogram_reference
        parsed_all = []
        for name in histograms:
            parsed = parse_histogram(get(name))
            if parsed is None:
                return False
            bounds, values = parsed
            previous_counts = histogram_current.get(name)
            if (
                bounds is not self.histograms.get(name)  # the layout's cached tuple
                or previous_counts is None
                or previous_counts is not references.get(name)
            ):
                return False
            # The same layout (checked above), so as many counts as before; zip's strict check
            # would cost about 5% of an update.
            deltas = [v - p for v, p in zip(values, previous_counts)]  # noqa: B905
            if min(deltas) < 0:
                return False
            parsed_all.append((name, values, deltas))
        if len(parsed_all) != len(histogram_current):
            return False
        readings = []
        for name in gauges:
            gauge = get(name)
            if gauge.__class__ is not float or not -MAX_VALUE <= gauge <= MAX_VALUE:
                return False
            readings.append((name, gauge))
        self.looks = 1
        current.update(values_now)
        found = self.histogram_deltas
        for name, values, deltas in parsed_all:
            histogram_current[name] = values
            found[name] = deltas
        for name, gauge in readings:
            self.gauges[name] = (t, gauge)
        self._fresh_counts = counts
        return True

    def take(
        self,
    ) -> tuple[dict[str, float], dict[str, list[float]], dict[str, tuple[float, float]]]:
        """Counter increments, histogram increments and last gauge readings since the last call."""
        reference, carried, current = self.reference, self.carried, self.current
        fresh = self._fresh_counts
        if fresh is not None:  # found by observe_taken, with nothing carried
            self._fresh_counts = None
            reference.update(current)
            histograms, self.histogram_deltas = self.histogram_deltas, {}
            self.histogram_reference.update(self.histogram_current)
            gauges, self.gauges = self.gauges, {}
            self.looks = 0
            return fresh, histograms, gauges
        counts = {name: value - reference[name] for name, value in current.items()}
        if carried:
            for name, value in carried.items():
                counts[name] = counts.get(name, 0.0) + value
            carried.clear()
        reference.update(current)  # in place: the references are this object's alone
        histograms = {}
        references, histogram_current = self.histogram_reference, self.histogram_current
        found = self.histogram_deltas
        for name, values in histogram_current.items():
            deltas = found.get(name)
            histograms[name] = (
                list(map(_sub, values, references[name])) if deltas is None else deltas
            )
        found.clear()
        if self.histogram_carried:
            for name, kept in self.histogram_carried.items():
                deltas = histograms.get(name)
                histograms[name] = (
                    kept if deltas is None else [a + b for a, b in zip(deltas, kept, strict=True)]
                )
            self.histogram_carried.clear()
        references.update(histogram_current)  # lists are replaced, never changed in place
        gauges, self.gauges = self.gauges, {}
        self.looks = 0
        return counts, histograms, gauges


def _number(value: Any) -> float | None:
    """A float within ``MAX_VALUE``, or None for anything else (missing, text, bool, NaN,
    infinity, 1e308)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if -MAX_VALUE <= number <= MAX_VALUE else None
