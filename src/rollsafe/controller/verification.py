"""Did a rollback level recover the service? Health, guards and the health analysis agree.

For ``verify.for`` seconds: the instances pass their health checks (failing
twice in a row fails verification), no critical or major guard breaches, and
the health analysis does not fail.

A guard breaches verification as it would a rollout, on the same evidence (a
rate guard's lower confidence bound above its threshold, with ``min_events``:
the few requests still in flight on the bad path, or counted late by a
Prometheus scrape, are not a failing service) and with its ``for``
respected: its condition holds at the last look and has held at every look for
its ``for``, or, when the verification is too short for that, at every look
since the guard first had a value (a service failing all along is not
recovered; a blip shorter than ``for`` does not fail it). A growth guard
(``memory_growth``) whose ``for`` is longer than ``verify.for`` is not judged
at all: a slope over a few seconds of a freshly started process measures its
warm-up (issue 17: 101 MB/h read over 10 s against a 50 MB/h guard meant to
hold 10 minutes), not a leak. Guards left unjudged are listed under
``not_judged`` in the level's record, so the report shows what was not checked.

Rolling back needs no metric source: without one, verification rests on the
health checks alone and says so.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from rollsafe.config.guards import UNITS, Guard
from rollsafe.controller.context import StepContext
from rollsafe.errors import MetricsError
from rollsafe.guards import Sample, Window, combine, holds, measure
from rollsafe.judge import Judge

UNHEALTHY_LOOKS = 2
"""Consecutive failed health checks that make a level's verification fail."""


def verify_recovery(context: StepContext) -> dict[str, Any]:
    """Health checks pass and guards and the health analysis stay quiet for ``verify.for``."""
    policy = context.plan.rollback.verify
    guards = VerificationGuards(context.plan.guards, policy.for_)
    judge = Judge(context.plan.analysis, mode="health")
    started = time.monotonic()
    settled_at = min(policy.settle, policy.for_ / 2)
    looks = metrics_failures = unhealthy_looks = 0
    with closing(context.adapters.source(context.plan, context.target)) as source:
        while True:
            t = round(time.monotonic() - started, 3)
            report = context.target.check_health()
            if not report.healthy:
                # Twice in a row: one probe that timed out on a busy machine must not
                # escalate to the next level (a restore, at worst) on its own.
                unhealthy_looks += 1
                if unhealthy_looks >= UNHEALTHY_LOOKS or t >= policy.for_:
                    return {
                        "recovered": False,
                        "reason": "health: " + "; ".join(report.reasons),
                        "t": t,
                    }
                time.sleep(policy.interval)
                continue
            unhealthy_looks = 0
            try:
                observations = source.observe(t)
            except MetricsError:
                metrics_failures += 1
                observations = []
            looks += 1
            guards.update(t, observations, report.expected - report.healthy_count)
            if t >= settled_at:  # its first look is the reference: the rest counts
                for observation in observations:
                    judge.update(observation)
            if t >= policy.for_:
                break
            time.sleep(min(policy.interval, max(policy.for_ - t, 0.05)))
    breaches = guards.breaches()
    verdict = judge.verdict
    result: dict[str, Any] = {
        "looks": looks,
        "seconds": round(time.monotonic() - started, 3),
        "healthy": True,
        "breaches": breaches,
        "analysis": verdict.verdict,
    }
    if guards.not_judged:
        result["not_judged"] = guards.not_judged
    if metrics_failures == looks:
        result["note"] = "metrics unavailable: verified by health checks alone"
    if breaches:
        names = ", ".join(
            f"{b['metric']}={b['value']:.4g} > {b['threshold']:.4g}" for b in breaches
        )
        return {**result, "recovered": False, "reason": f"guards still breached: {names}"}
    if verdict.verdict == "fail":
        return {**result, "recovered": False, "reason": f"health analysis failed: {verdict.reason}"}
    return {**result, "recovered": True, "reason": "healthy, guards quiet"}


@dataclass
class _Watched:
    guard: Guard
    window: Window
    first_value: float | None = None
    """When the guard first had a value (a rate needs two looks, a slope a few seconds)."""
    since: float | None = None
    """First look of the current run of looks where the condition holds."""
    value: float | None = None
    t: float = 0.0


@dataclass
class VerificationGuards:
    """The plan's critical and major guards over one verification (see the module docstring)."""

    guards: Sequence[Guard]
    seconds: float
    not_judged: list[dict[str, Any]] = field(default_factory=list)
    _watched: list[_Watched] = field(default_factory=list)

    def __post_init__(self) -> None:
        for guard in self.guards:
            if guard.severity == "minor":
                continue
            if guard.metric == "memory_growth" and guard.for_ > self.seconds:
                self.not_judged.append(
                    {
                        "guard": guard.name,
                        "for": guard.for_,
                        "verification": self.seconds,
                        "reason": "a growth slope needs its 'for' observed: over a shorter "
                        "verification it measures a fresh process's warm-up",
                    }
                )
                continue
            self._watched.append(_Watched(guard, Window(guard.window)))

    def update(
        self, t: float, observations: Sequence[Mapping[str, Any]], failing_instances: int
    ) -> None:
        for watched in self._watched:
            sample = combine(observations, watched.guard.arm) if observations else None
            watched.window.add(
                Sample(t, {}, {}, None, failing_instances)
                if sample is None
                else Sample(
                    sample.t,
                    sample.counters,
                    sample.buckets,
                    sample.memory_bytes,
                    failing_instances,
                )
            )
            value = measure(watched.guard, watched.window)
            watched.value, watched.t = value, t
            if value is not None and watched.first_value is None:
                watched.first_value = t
            held = holds(watched.guard, watched.window, value)
            watched.since = (watched.since if watched.since is not None else t) if held else None

    def breaches(self) -> list[dict[str, Any]]:
        """Guards whose condition held long enough, and still holds at the last look."""
        found = []
        for watched in self._watched:
            guard, since = watched.guard, watched.since
            if since is None or watched.value is None:
                continue
            held = watched.t - since
            if held >= guard.for_ or (
                watched.first_value is not None and since <= watched.first_value
            ):
                found.append(
                    {
                        "guard": guard.name,
                        "metric": guard.metric,
                        "value": watched.value,
                        "threshold": guard.threshold,
                        "unit": UNITS[guard.metric],
                        "for": guard.for_,
                        "held": round(held, 3),
                    }
                )
        return found
