"""What a rollout's charts show, read from the journal alone: series per arm, the judge's
evidence look by look, guards, rollback levels. The dashboard's rollout page and the
HTML incident report both draw from here, so they show the same evidence.

The journal keeps each look's raw observations (cumulative counters per arm), not
rates: the page derives per-look error rates and latency quantiles from the
differences between consecutive looks, as the judge does. The judge's evidence
over time is the real judge replayed over those observations (the same
``rollsafe.judge.Judge`` and the plan's ``analysis`` settings), so the curve drawn
ends exactly at the verdict the step journaled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollsafe.config import Plan, load_plan
from rollsafe.errors import RollsafeError
from rollsafe.journal import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import (
    GuardEventRecord,
    ReferenceRecord,
    VerdictRecord,
    analysis_verdict,
    guard_event,
    step_moved,
)

QUANTILES = (0.5, 0.95, 0.99)

Point = tuple[float, float]


@dataclass
class ArmSeries:
    """One arm's per-look figures over one analysis step (t in seconds from its start)."""

    error_rate: list[Point] = field(default_factory=list)
    latency: dict[float, list[Point]] = field(default_factory=lambda: {q: [] for q in QUANTILES})
    memory: list[Point] = field(default_factory=list)


@dataclass
class MetricEvidence:
    """One judged metric's evidence after each look."""

    name: str
    effect: str
    e_value: list[Point] = field(default_factory=list)
    threshold: float = math.inf
    estimate: list[Point] = field(default_factory=list)
    low: list[Point] = field(default_factory=list)
    high: list[Point] = field(default_factory=list)
    verdict: str = ""


@dataclass
class AnalysisView:
    index: int
    mode: str
    arms: dict[str, ArmSeries]
    metrics: list[MetricEvidence]
    verdict: VerdictRecord | None
    looks: int
    started_at: float = 0.0
    """When the step started (journal time)."""
    ended_at: float | None = None
    """When the step ended (succeeded or failed), None while it runs."""
    look_times: list[tuple[float, float]] = field(default_factory=list)
    """Each look's journal time and its x on the charts (seconds from the first look)."""
    reference: ReferenceRecord | None = None
    """A health step's reference (`rollsafe.judge.reference`): its judge is replayed with it."""

    def x_at(self, ts: float) -> float | None:
        """Where journal time ``ts`` falls on this step's charts: the x of the last look
        at or before it (looks are what the charts draw), or None outside the step."""
        if ts < self.started_at or (self.ended_at is not None and ts > self.ended_at):
            return None
        before = [x for at, x in self.look_times if at <= ts]
        return before[-1] if before else None


def analyses(entries: Sequence[JournalEntry], plan: Plan | None) -> list[AnalysisView]:
    """One view per analysis step that has looked at least once, in step order."""
    views: dict[int, AnalysisView] = {}
    observations: dict[int, list[list[dict[str, Any]]]] = {}
    looked_at: dict[int, list[float]] = {}
    current: int | None = None
    for entry in entries:
        data = entry.data
        if entry.kind == Kind.STEP_RUNNING:
            step = step_moved(entry)
            current = step.get("index") if step.get("kind") == "analysis" else None
            if current is not None:
                mode = (step.get("spec") or {}).get("mode", "compare")
                views[current] = AnalysisView(current, mode, {}, [], None, 0, entry.ts)
                observations[current] = []
                looked_at[current] = []
        elif current is None:
            continue
        elif entry.kind == Kind.ANALYSIS_OBSERVATION:
            observations[current].append(list(data.get("observations") or []))
            looked_at[current].append(entry.ts)
        elif entry.kind == Kind.ANALYSIS_VERDICT:
            recorded = analysis_verdict(entry)
            views[current].verdict = recorded.get("verdict")
            views[current].reference = recorded.get("reference")
        elif (
            entry.kind in (Kind.STEP_SUCCEEDED, Kind.STEP_FAILED)
            and step_moved(entry).get("index") == current
        ):
            views[current].ended_at = entry.ts
            current = None
    for index, view in views.items():
        looks = observations[index]
        view.looks = len(looks)
        view.arms = arm_series(looks)
        view.metrics = replay_judge(looks, plan, view.mode, view.reference)
        start = _start(looks)
        view.look_times = [
            (at, max((float(o.get("t", 0.0)) for o in look), default=start) - start)
            for at, look in zip(looked_at[index], looks, strict=True)
        ]
    return [views[i] for i in sorted(views) if views[i].looks]


def _start(looks: Sequence[Sequence[dict[str, Any]]]) -> float:
    """The charts' time zero: the first observation's ``t``."""
    return min((float(o.get("t", 0.0)) for look in looks for o in look), default=0.0)


def arm_series(looks: Sequence[Sequence[dict[str, Any]]]) -> dict[str, ArmSeries]:
    """Per-look error rate, latency quantiles and memory for each arm."""
    arms: dict[str, ArmSeries] = {}
    previous: dict[str, dict[str, Any]] = {}
    start: float | None = None
    for look in looks:
        for observation in look:
            arm = str(observation.get("arm", "?"))
            t = float(observation.get("t", 0.0))
            start = t if start is None else min(start, t)
            series = arms.setdefault(arm, ArmSeries())
            before = previous.get(arm)
            previous[arm] = observation
            if (memory := observation.get("memory_bytes")) is not None:
                series.memory.append((t, float(memory)))
            if before is None:
                continue
            requests = _delta(observation, before, "requests")
            if requests > 0:
                errors = _delta(observation, before, "errors")
                series.error_rate.append((t, max(errors, 0.0) / requests))
            buckets = _bucket_delta(observation, before)
            for q in QUANTILES:
                value = quantile(buckets, q)
                if value is not None:
                    series.latency[q].append((t, value))
    if start:
        for series in arms.values():
            series.error_rate = [(t - start, v) for t, v in series.error_rate]
            series.memory = [(t - start, v) for t, v in series.memory]
            series.latency = {q: [(t - start, v) for t, v in p] for q, p in series.latency.items()}
    return arms


def _delta(now: dict[str, Any], before: dict[str, Any], key: str) -> float:
    return float(now.get(key) or 0.0) - float(before.get(key) or 0.0)


def _bucket_delta(now: dict[str, Any], before: dict[str, Any]) -> list[tuple[float, float]]:
    """(upper bound, requests in this look at or under it), sorted by bound."""
    after = now.get("latency_seconds_bucket") or {}
    earlier = before.get("latency_seconds_bucket") or {}
    rows = []
    for bound, count in after.items():
        upper = math.inf if bound in ("+Inf", "inf") else float(bound)
        rows.append((upper, float(count) - float(earlier.get(bound, 0.0))))
    return sorted(rows)


def quantile(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """The ``q`` quantile of a cumulative histogram, interpolated within its bucket
    (as Prometheus' ``histogram_quantile``); None without requests."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower_bound  # beyond the largest finite bound: report that bound
            if count == lower_count:
                return upper
            return lower_bound + (upper - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = upper, count
    return lower_bound


def replay_judge(
    looks: Sequence[Sequence[dict[str, Any]]],
    plan: Plan | None,
    mode: str,
    reference: ReferenceRecord | None = None,
) -> list[MetricEvidence]:
    """The judge's evidence after each look, by running the plan's judge over the looks."""
    if plan is None or not looks:
        return []
    # Imported here, not at the top: the judge brings numpy, which a flag server that
    # never draws a chart (10,000 open streams, say) should not carry in memory.
    from rollsafe.judge import Judge
    from rollsafe.judge.reference import RateReference

    if mode == "health":
        rate_reference = RateReference.from_record(reference) if reference else None
        judge = Judge(plan.analysis, mode="health", reference=rate_reference)
    else:
        judge = Judge(plan.analysis)
    found: dict[str, MetricEvidence] = {}
    start = _start(looks)
    for look in looks:
        verdict = None
        for observation in look:
            verdict = judge.update(observation)
        if verdict is None:
            continue
        t = max(float(o.get("t", 0.0)) for o in look) - start
        for metric in verdict.metrics:
            evidence = found.setdefault(metric.name, MetricEvidence(metric.name, metric.effect))
            evidence.verdict = metric.verdict
            evidence.threshold = metric.threshold
            if _finite(metric.e_value):
                evidence.e_value.append((t, metric.e_value))
            estimate, low, high = metric.estimate, metric.low, metric.high
            if (
                estimate is not None
                and low is not None
                and high is not None
                and _finite(estimate)
                and _finite(low)
                and _finite(high)
            ):
                evidence.estimate.append((t, estimate))
                evidence.low.append((t, low))
                evidence.high.append((t, high))
    return list(found.values())


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def plan_of(plan_path: str, plan_text: str) -> Plan | None:
    """The rollout's plan as stored, or None if it no longer loads (shown without evidence)."""
    try:
        return load_plan(Path(plan_path), plan_text)
    except RollsafeError:
        return None


@dataclass(frozen=True)
class GuardState:
    name: str
    state: str
    """``ok``, ``firing``, ``tripped`` or ``blind``."""
    since: float
    summary: str


def guards(entries: Sequence[JournalEntry]) -> list[GuardState]:
    """Each guard's latest state from its journal entries."""
    states: dict[str, GuardState] = {}
    names = {
        Kind.GUARD_FIRING: "firing",
        Kind.GUARD_TRIPPED: "tripped",
        Kind.GUARD_CLEARED: "ok",
    }
    for entry in entries:
        data = entry.data
        if entry.kind in names:
            event = guard_event(entry)
            name = str(event.get("guard", "?"))
            summary = _guard_summary(event)
            states[name] = GuardState(name, names[Kind(entry.kind)], entry.ts, summary)
        elif entry.kind == Kind.GUARD_METRICS_UNAVAILABLE:
            states["metrics"] = GuardState("metrics", "blind", entry.ts, str(data.get("error", "")))
        elif entry.kind == Kind.GUARD_METRICS_RESTORED:
            states["metrics"] = GuardState("metrics", "ok", entry.ts, "metrics answer again")
    return sorted(states.values(), key=lambda g: g.name)


def _guard_summary(event: GuardEventRecord) -> str:
    metric, value, threshold = event.get("metric"), event.get("value"), event.get("threshold")
    if metric is None:
        return ""
    return f"{metric} {_short(value)} vs {_short(threshold)} over {_short(event.get('window'))}s"


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class LevelRow:
    level: int
    name: str
    outcome: str
    """``running``, ``recovered``, ``not recovered`` or ``skipped``."""
    started: float | None
    action_seconds: float | None
    seconds: float | None
    detail: str


def rollback_levels(entries: Sequence[JournalEntry]) -> list[LevelRow]:
    """The rollback ladder as run: each level's outcome and timings."""
    rows: dict[int, LevelRow] = {}
    for entry in entries:
        data = entry.data
        level = data.get("level")
        if not isinstance(level, int):
            continue
        name = str(data.get("name", ""))
        if entry.kind == Kind.ROLLBACK_LEVEL_STARTED:
            rows[level] = LevelRow(level, name, "running", entry.ts, None, None, "")
        elif entry.kind == Kind.ROLLBACK_LEVEL_SKIPPED:
            rows[level] = LevelRow(
                level, name, "skipped", entry.ts, None, None, str(data.get("reason", ""))
            )
        elif entry.kind == Kind.ROLLBACK_LEVEL_ENDED:
            before = rows.get(level)
            recovered = data.get("recovered", data.get("ok"))
            rows[level] = LevelRow(
                level,
                name,
                "recovered" if recovered else "not recovered",
                before.started if before else None,
                data.get("action_seconds"),
                data.get("seconds"),
                str(data.get("error") or data.get("verification", {}) or ""),
            )
    return [rows[level] for level in sorted(rows)]
