"""Latency warm-up: a freshly started canary is not rolled back for being cold (issue 16)."""

from __future__ import annotations

import math
from typing import Any

from bench.judge.simulator import Scenario, observations, simulate

from rollsafe.config import AnalysisConfig
from rollsafe.judge import Judge

COLD_START = Scenario("A/A, cold start", True, cold_start=True)
"""The canary is three times slower at first and warm after about ten seconds."""


def _verdict(stream: Any, config: AnalysisConfig | None = None) -> str:
    judge = Judge(config)
    verdict = judge.verdict
    for observation in stream:
        verdict = judge.update(observation)
        if verdict.decided_at is not None:
            break
    return verdict.verdict


def test_cold_start_a_a_rarely_fails_with_the_default_warmup() -> None:
    runs, alpha = 100, 0.01
    failures = sum(
        _verdict(observations(simulate(COLD_START, 180, seed))) == "fail" for seed in range(runs)
    )
    assert failures / runs <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)


def test_without_warmup_the_same_cold_start_is_a_false_rollback() -> None:
    # The check above can fail: with no warm-up a cold canary is judged slower.
    runs = 20
    failures = sum(
        _verdict(observations(simulate(COLD_START, 180, seed)), AnalysisConfig(warmup=0)) == "fail"
        for seed in range(runs)
    )
    assert failures >= runs // 2


def test_a_restart_starts_a_new_warmup() -> None:
    # A warm A/A for 16 s (past the first warm-up); then the canary restarts (its
    # counters go back to zero) and is cold again: its next 10 s add no latency evidence.
    warm = list(observations(simulate(Scenario("A/A", True), 16, 1)))
    cold = list(observations(simulate(COLD_START, 120, 11)))
    shifted = [{**o, "t": o["t"] + 16.0} for o in cold]
    last = warm[-1]  # the baseline's last totals
    stream = warm + [_continue(o, last) if o["arm"] == "baseline" else o for o in shifted]
    assert _verdict(stream) != "fail"
    assert _verdict(stream, AnalysisConfig(warmup=0)) == "fail"


def _continue(observation: dict[str, Any], last: dict[str, Any]) -> dict[str, Any]:
    """The baseline's counters go on from where they were (it did not restart)."""
    buckets = {
        key: value + last["latency_seconds_bucket"][key]
        for key, value in observation["latency_seconds_bucket"].items()
    }
    return {
        **observation,
        "requests": observation["requests"] + last["requests"],
        "errors": observation["errors"] + last["errors"],
        "latency_seconds_bucket": buckets,
    }
