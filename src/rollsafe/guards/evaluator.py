"""Guards over time, with Prometheus alerting semantics and the runbooks' severities.

A guard's condition is ``value > threshold``; for rate guards (``error_rate``,
``ratio``) it is that the rate is *confidently* above the threshold: the lower
end of an anytime-valid confidence sequence for the window's rate
(``rollsafe.stats.rate_bounds`` at the guard's ``alpha``) is above it, with at
least ``min_requests`` requests and ``min_events`` events in the window. One
error in 48 requests is not evidence of a rate above 2%; a front door answering
nothing but errors is, as soon as ``min_requests`` have been answered.

A guard becomes *pending* the first look it holds, *fires* once it has held at
every look for ``for`` seconds, and any look where it does not hold (or has no
value) resets it. On firing:
critical trips (roll back now); major trips unless the condition clears within
``grace``; minor only notifies. A tripped guard stays tripped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rollsafe.config.guards import UNITS, Guard
from rollsafe.guards.phases import Alerting, Phase
from rollsafe.guards.windows import Sample, Window, combine
from rollsafe.journal.payloads.guards import GuardEventRecord, GuardEvidence
from rollsafe.stats import rate_bounds, rate_exceeds


@dataclass(frozen=True)
class GuardEvent:
    """Something worth journaling: a guard fired, cleared, notified or tripped."""

    kind: str
    guard: str
    severity: str
    t: float
    evidence: GuardEvidence

    @property
    def trips(self) -> bool:
        return self.kind == "tripped"

    def to_dict(self) -> GuardEventRecord:
        """What the journal records (`rollsafe.journal.payloads.guards`)."""
        return {"guard": self.guard, "severity": self.severity, "t": self.t, **self.evidence}

    @property
    def summary(self) -> str:
        """The evidence in words, e.g. ``error_rate 25% (12/48) over 10s, 99% lower bound
        7.6% > 2%``: what a reader of the incident report needs to judge the trip."""
        evidence = self.evidence
        metric, value, threshold = evidence["metric"], evidence["value"], evidence["threshold"]
        window = f"over {evidence['window']:g}s"
        if "lower_bound" not in evidence or value is None:
            return f"{metric} {_number(value)} > {_number(threshold)} {window}"
        events, trials = evidence["counts"].values()
        if metric == "latency":
            share = 1 - evidence["quantile"]
            return (
                f"latency {_number(value)} > {_number(threshold)} {window} "
                f"(p{100 * evidence['quantile']:g}: {_number(events)}/{_number(trials)} "
                f"requests slower, {evidence['confidence']:.0%} lower bound "
                f"{_percent(evidence['lower_bound'])} > {_percent(share)})"
            )
        return (
            f"{metric} {_percent(value)} ({_number(events)}/{_number(trials)}) {window}, "
            f"{evidence['confidence']:.0%} lower bound {_percent(evidence['lower_bound'])} "
            f"> {_percent(threshold)}"
        )


def _number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.3g}%"


@dataclass
class _State:
    guard: Guard
    window: Window
    alerting: Alerting


@dataclass
class GuardEvaluator:
    guards: Sequence[Guard]
    _states: list[_State] = field(init=False)

    def __post_init__(self) -> None:
        self._states = [
            _State(guard, Window(guard.window), Alerting(guard.severity, guard.for_, guard.grace))
            for guard in self.guards
        ]

    def update(
        self,
        t: float,
        observations: Sequence[Mapping[str, Any]],
        failing_instances: int | None = None,
    ) -> list[GuardEvent]:
        """Feed one look (per-arm observations and the health check); return new events."""
        events: list[GuardEvent] = []
        for state in self._states:
            sample = combine(observations, state.guard.arm) if observations else None
            if sample is not None or failing_instances is not None:
                state.window.add(_with_health(sample, t, failing_instances))
            events.extend(self._step(state, t))
        return events

    @property
    def tripped(self) -> list[str]:
        return [s.guard.name for s in self._states if s.alerting.phase is Phase.TRIPPED]

    def _step(self, state: _State, t: float) -> list[GuardEvent]:
        if state.alerting.phase is Phase.TRIPPED:
            return []
        value = measure(state.guard, state.window)
        kinds = state.alerting.step(t, holds(state.guard, state.window, value))
        return [self._event(kind, state, t, value) for kind in kinds]

    @staticmethod
    def _event(kind: str, state: _State, t: float, value: float | None) -> GuardEvent:
        evidence = _evidence(state.guard, state.window, value)
        evidence["pending_since"] = state.alerting.since
        if state.alerting.fired_at is not None:
            evidence["firing_since"] = state.alerting.fired_at
        return GuardEvent(kind, state.guard.name, state.guard.severity, t, evidence)


def measure(guard: Guard, window: Window) -> float | None:
    """The guard's metric over its window, in the unit of its threshold; None without data."""
    if guard.metric == "error_rate":
        return window.rate("errors", "requests", guard.min_requests)
    if guard.metric == "ratio":
        return window.rate(guard.numerator, guard.denominator, guard.min_requests)
    if guard.metric == "latency":
        return window.quantile(guard.quantile, guard.min_requests)
    if guard.metric == "memory_growth":
        slope = window.slope_per_second(min_span=min(guard.window, 3.0))
        return None if slope is None else slope * 3600 / 1e6
    newest = window.newest
    return None if newest is None else newest.failing_instances


def is_rate(guard: Guard) -> bool:
    """Rate guards count events among trials, so they can decide on a confidence bound."""
    return guard.metric == "error_rate" or (guard.metric == "ratio" and guard.threshold < 1)


def _counts(guard: Guard, window: Window) -> tuple[float | None, float | None]:
    if guard.metric == "error_rate":
        return window.delta("errors"), window.delta("requests")
    return window.delta(guard.numerator), window.delta(guard.denominator)


def holds(guard: Guard, window: Window, value: float | None) -> bool:
    """Whether the guard's condition holds at this look, given its ``measure``."""
    if value is None or value <= guard.threshold:
        return False
    if guard.metric == "latency":
        return _latency_holds(guard, window)
    if not is_rate(guard):
        return True
    events, trials = _counts(guard, window)
    if events is None or trials is None or events < guard.min_events:
        return False
    return rate_exceeds(events, trials, guard.threshold, guard.alpha)


def _latency_holds(guard: Guard, window: Window) -> bool:
    """A quantile above its threshold on evidence: enough slow requests, confidently many.

    "p95 above 100 ms" means more than 5% of requests slower than 100 ms. Over a
    window of twenty requests the p95 is the slowest one or two, so a single
    scheduler hiccup would trip the guard: it holds only with at least
    ``min_events`` requests slower than the threshold whose share's lower
    confidence bound (at ``alpha``) is above ``1 - quantile``, as rate guards do.
    """
    counted = window.slower_than(guard.threshold)
    if counted is None or counted[0] < guard.min_events:
        return False
    return rate_exceeds(counted[0], counted[1], 1 - guard.quantile, guard.alpha)


def _evidence(guard: Guard, window: Window, value: float | None) -> GuardEvidence:
    evidence: GuardEvidence = {
        "metric": guard.metric,
        "value": value,
        "threshold": guard.threshold,
        "unit": UNITS[guard.metric],
        "for": guard.for_,
        "window": guard.window,
        "arm": guard.arm,
    }
    events, trials = _counts(guard, window)
    if guard.metric in ("error_rate", "ratio"):
        numerator = "errors" if guard.metric == "error_rate" else guard.numerator
        denominator = "requests" if guard.metric == "error_rate" else guard.denominator
        evidence["counts"] = {numerator: events, denominator: trials}
    if is_rate(guard):
        evidence["lower_bound"] = (
            None if events is None or not trials else rate_bounds(events, trials, guard.alpha)[0]
        )
        evidence["confidence"] = 1 - guard.alpha
        evidence["min_requests"] = guard.min_requests
        evidence["min_events"] = guard.min_events
    if guard.metric == "latency":
        evidence["quantile"] = guard.quantile
        counted = window.slower_than(guard.threshold)
        if counted is not None:
            slow, total = counted
            evidence["counts"] = {"slower": slow, "requests": total}
            evidence["lower_bound"] = rate_bounds(slow, total, guard.alpha)[0]
            evidence["confidence"] = 1 - guard.alpha
            evidence["min_events"] = guard.min_events
    return evidence


def _with_health(sample: Sample | None, t: float, failing: int | None) -> Sample:
    if sample is None:
        return Sample(t, {}, {}, None, failing)
    return Sample(sample.t, sample.counters, sample.buckets, sample.memory_bytes, failing)
