"""Counters that go down (a restarted process) lose one look, never count twice."""

from __future__ import annotations

from typing import Any

import numpy as np

from rollsafe.judge import Judge
from tests.judge.streams import Arm, look


def _observations(
    rng: np.random.Generator, canary: Arm, looks: int, reset_at: int
) -> list[dict[str, Any]]:
    baseline = Arm(fields=canary.fields)
    result = []
    for t in range(looks):
        if t == reset_at:  # the canary restarts: its counters begin again near zero
            canary.requests = canary.errors = 0.0
            canary.buckets[:] = 0
        result.append(look(rng, canary, "canary", float(t)))
        result.append(look(rng, baseline, "baseline", float(t)))
    return result


def test_reset_in_a_healthy_canary_changes_nothing_but_one_look() -> None:
    rng = np.random.default_rng(41)
    observations = _observations(rng, Arm(), 100, reset_at=50)
    judge = Judge()
    for observation in observations:
        verdict = judge.update(observation)
    assert verdict.verdict != "fail"
    canary = [o for o in observations if o["arm"] == "canary"]
    expected = (canary[49]["requests"] - canary[0]["requests"]) + (
        canary[-1]["requests"] - canary[50]["requests"]
    )
    ratio = next(m for m in verdict.metrics if m.name == "error_rate")
    assert ratio.arms["canary"]["trials"] == expected


def test_regression_is_still_caught_across_resets() -> None:
    rng = np.random.default_rng(42)
    judge = Judge()
    canary = Arm(error_rate=0.08)
    for observation in _observations(rng, canary, 120, reset_at=3):
        verdict = judge.update(observation)
        if verdict.decided_at is not None:
            break
    assert verdict.verdict == "fail"


def test_histogram_reset_is_handled() -> None:
    rng = np.random.default_rng(43)
    fields = ("requests", "errors", "latency_seconds_bucket")
    judge = Judge()
    for observation in _observations(rng, Arm(fields=fields), 60, reset_at=30):
        verdict = judge.update(observation)
    latency = next(m for m in verdict.metrics if m.name == "latency")
    assert latency.verdict != "fail"
    assert latency.arms["canary"]["count"] is not None
    assert 0 < latency.arms["canary"]["count"] < 60 * 50 * 1.2


def test_counter_appearing_late_counts_from_zero() -> None:
    judge = Judge()
    judge.update({"t": 0, "arm": "canary", "requests": 0})
    judge.update({"t": 0, "arm": "baseline", "requests": 0})
    judge.update({"t": 1, "arm": "canary", "requests": 100, "errors": 7})
    verdict = judge.update({"t": 1, "arm": "baseline", "requests": 100})
    ratio = next(m for m in verdict.metrics if m.name == "error_rate")
    assert ratio.arms["canary"]["events"] == 7
    assert ratio.arms["baseline"]["events"] == 0
