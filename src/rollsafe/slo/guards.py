"""Multiwindow burn-rate guards: a rollout judged against the error budget it burns.

An objective's budget is ``1 - target`` of its requests; burning at rate 1
spends exactly the budget over the period. Each tier of the objective's
``windows`` holds at a look when

- over the long window, the lower end of the error ratio's confidence bound
  (``rollsafe.stats.rate_bounds`` at the objective's ``alpha``, with at least
  ``min_events`` bad requests), times the window's coverage, is above ``burn x
  budget``: the rollout has burned at least ``burn x long / period`` of the
  period's budget, on evidence (14.4x over 1h of 28 days: 2.1%);
- over the short window, the observed ratio times its coverage is above it too:
  the burn goes on now (the short window is what lets a tier reset quickly).

Coverage is explained in :mod:`rollsafe.slo.windows`. A tier then goes
through the guards' phases (:mod:`rollsafe.guards.phases`) with its ``for``
and the severity its ``action`` says (page: critical, ticket: major), and its
events are :class:`~rollsafe.guards.GuardEvent` s the monitor journals as
``guard.*`` entries. Every duration is divided by the section's ``compress``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rollsafe.config.slo import Objective, SloSettings, Tier
from rollsafe.guards import GuardEvent, Sample, combine
from rollsafe.guards.phases import Alerting, Phase
from rollsafe.journal.payloads import GuardEvidence
from rollsafe.slo.durations import prom_duration
from rollsafe.slo.windows import Counts, CountWindow, Reading
from rollsafe.stats import rate_bounds, rate_exceeds

UNIT = "times the error budget's sustainable rate"


@dataclass(frozen=True)
class BurnEvent(GuardEvent):
    """A burn-rate tier's event; its summary speaks of budget, not of a threshold."""

    @property
    def summary(self) -> str:
        e = self.evidence
        lower = e["lower_bound"]
        return (
            f"slo {e['slo']} burns its error budget at {e['value']:.3g}x over "
            f"{prom_duration(e['window'])} ({e['confidence']:.0%} lower bound "
            f"{'n/a' if lower is None else format(lower, '.3g')}x) and {e['short_value']:.3g}x "
            f"over {prom_duration(e['short_window'])}, above {e['threshold']:g}x: "
            f"{e['budget_burned']:.1%} of the {prom_duration(e['period'])} budget burned"
        )


@dataclass(frozen=True)
class CompiledTier:
    """A tier with its durations compressed and its guard's name."""

    name: str
    tier: Tier
    long: float
    short: float
    for_: float

    @classmethod
    def of(cls, objective: Objective, tier: Tier, compress: float) -> CompiledTier:
        long, short = tier.long / compress, tier.short / compress
        name = f"slo-{objective.name}-{tier.severity}-{prom_duration(long)}-{prom_duration(short)}"
        return cls(name, tier, long, short, tier.for_ / compress)


@dataclass
class _TierState:
    compiled: CompiledTier
    long: CountWindow
    short: CountWindow
    alerting: Alerting


@dataclass
class BurnRateEvaluator:
    """The burn-rate guards of one objective, fed look by look as a GuardEvaluator is."""

    objective: Objective
    compress: float = 1.0
    _tiers: list[_TierState] = field(init=False)

    def __post_init__(self) -> None:
        self._tiers = []
        for tier in self.objective.windows:
            compiled = CompiledTier.of(self.objective, tier, self.compress)
            self._tiers.append(
                _TierState(
                    compiled,
                    CountWindow(compiled.long),
                    CountWindow(compiled.short),
                    Alerting(tier.guard_severity, compiled.for_),
                )
            )

    @property
    def period(self) -> float:
        return self.objective.period / self.compress

    def update(
        self,
        t: float,
        observations: Sequence[Mapping[str, Any]],
        failing_instances: int | None = None,
    ) -> list[GuardEvent]:
        """Feed one look (per-arm observations); return new events. Health is not an SLI."""
        del failing_instances
        sample = combine(observations, self.objective.arm) if observations else None
        counts = None if sample is None else sli_counts(self.objective, sample, t)
        events: list[GuardEvent] = []
        for state in self._tiers:
            if counts is not None:
                state.long.add(counts)
                state.short.add(counts)
            if state.alerting.phase is Phase.TRIPPED:
                continue
            kinds = state.alerting.step(t, self._holds(state))
            events.extend(self._event(kind, state, t) for kind in kinds)
        return events

    @property
    def tripped(self) -> list[str]:
        return [s.compiled.name for s in self._tiers if s.alerting.phase is Phase.TRIPPED]

    def burn_rates(self) -> dict[str, float | None]:
        """Each tier's long-window burn rate now (None before it spans any time)."""
        return {s.compiled.name: self._burn(s.long.reading()) for s in self._tiers}

    def _burn(self, reading: Reading | None) -> float | None:
        if reading is None:
            return None
        return reading.ratio * reading.coverage / self.objective.budget

    def _holds(self, state: _TierState) -> bool:
        long, short = state.long.reading(), state.short.reading()
        if long is None or short is None or long.bad < self.objective.min_events:
            return False
        limit = state.compiled.tier.burn * self.objective.budget
        if short.ratio * short.coverage <= limit:
            return False
        return rate_exceeds(long.bad, long.total, limit / long.coverage, self.objective.alpha)

    def _event(self, kind: str, state: _TierState, t: float) -> GuardEvent:
        objective, compiled = self.objective, state.compiled
        long, short = state.long.reading(), state.short.reading()
        lower = None
        if long is not None and long.total > 0:
            low_ratio = rate_bounds(long.bad, long.total, objective.alpha)[0]
            lower = low_ratio * long.coverage / objective.budget
        burn = self._burn(long) or 0.0
        evidence: GuardEvidence = {
            "slo": objective.name,
            "sli": objective.sli,
            "tier": compiled.tier.severity,
            "metric": "burn_rate",
            "value": burn,
            "threshold": compiled.tier.burn,
            "unit": UNIT,
            "window": compiled.long,
            "short_window": compiled.short,
            "short_value": self._burn(short) or 0.0,
            "for": compiled.for_,
            "arm": objective.arm,
            "target": objective.target,
            "period": self.period,
            "compress": self.compress,
            "counts": {
                "errors": long.bad if long else 0.0,
                "requests": long.total if long else 0.0,
            },
            "coverage": long.coverage if long else 0.0,
            "lower_bound": lower,
            "confidence": 1 - objective.alpha,
            "min_events": objective.min_events,
            "pending_since": state.alerting.since,
        }
        evidence["budget_burned"] = burn * compiled.long / self.period
        evidence["exhausts_in"] = self.period / burn if burn > 0 else None
        if state.alerting.fired_at is not None:
            evidence["firing_since"] = state.alerting.fired_at
        return BurnEvent(kind, compiled.name, state.alerting.severity, t, evidence)


def sli_counts(objective: Objective, sample: Sample, t: float) -> Counts | None:
    """(bad, total) cumulative counts of the SLI in the look at ``t``; None when it lacks them."""
    if objective.sli == "availability":
        errors, requests = sample.counters.get("errors"), sample.counters.get("requests")
        if errors is None or requests is None:
            return None
        return Counts(t, errors, requests)
    threshold = objective.threshold or 0.0
    bounds = sorted(sample.buckets)
    if not bounds or not math.isinf(bounds[-1]):
        return None
    total = sample.buckets[bounds[-1]]
    # The smallest bucket bound at or above the threshold: requests counted good there
    # may be slightly slower than the threshold, so bad ones are never overcounted.
    good_bound = next((b for b in bounds if b >= threshold - 1e-9), bounds[-1])
    return Counts(t, max(total - sample.buckets[good_bound], 0.0), total)


def slo_evaluators(slos: SloSettings | None) -> list[BurnRateEvaluator]:
    """One evaluator per objective of a plan's ``slos`` (none without)."""
    if slos is None:
        return []
    return [BurnRateEvaluator(objective, slos.compress) for objective in slos.objectives]
