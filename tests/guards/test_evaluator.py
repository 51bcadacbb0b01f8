"""Guard semantics: Prometheus `for`, severities, grace, and the values they compare."""

from __future__ import annotations

from typing import Any

import pytest

from rollsafe.config import Guard
from rollsafe.guards import GuardEvaluator, Window, combine


def look(t: float, requests: float, errors: float, **extra: Any) -> list[dict[str, Any]]:
    """One look with the traffic split evenly over both arms."""
    return [
        {"t": t, "arm": arm, "requests": requests / 2, "errors": errors / 2, **extra}
        for arm in ("canary", "baseline")
    ]


def error_guard(**overrides: Any) -> Guard:
    fields: dict[str, Any] = {
        "name": "errors",
        "metric": "error_rate",
        "threshold": 0.05,
        "for": 3,
        "window": 2,
        "severity": "critical",
        "min_requests": 10,
    }
    return Guard.model_validate({**fields, **overrides})


def run(
    evaluator: GuardEvaluator, rates: list[float], per_look: float = 100
) -> list[tuple[str, float]]:
    """Feed one look a second with the given error rates; return (event kind, t)."""
    requests = errors = 0.0
    events = []
    for t, rate in enumerate(rates):
        requests += per_look
        errors += per_look * rate
        events += [(e.kind, e.t) for e in evaluator.update(float(t), look(t, requests, errors))]
    return events


def test_critical_trips_only_after_holding_for_the_whole_duration() -> None:
    events = run(GuardEvaluator([error_guard()]), [0.0] * 3 + [0.2] * 8)
    # Condition first holds at t=3 (window 2..3); for 3s means it fires at t=6.
    assert events == [("firing", 6.0), ("tripped", 6.0)]


def test_a_single_quiet_look_resets_the_for_clock() -> None:
    rates = [0.0] * 3 + [0.2, 0.2, 0.0, 0.0, 0.2, 0.2, 0.2, 0.2]
    events = run(GuardEvaluator([error_guard(window=1)]), rates)
    assert events == [("firing", 10.0), ("tripped", 10.0)]


def test_major_clears_within_grace_and_does_not_trip() -> None:
    guard = error_guard(severity="major", grace=3, **{"for": 0}, window=1)
    events = run(GuardEvaluator([guard]), [0.0, 0.0, 0.2, 0.2, 0.0, 0.0, 0.0])
    assert events == [("firing", 2.0), ("cleared", 4.0)]


def test_major_trips_when_grace_runs_out() -> None:
    guard = error_guard(severity="major", grace=2, **{"for": 0}, window=1)
    events = run(GuardEvaluator([guard]), [0.0, 0.2, 0.2, 0.2, 0.2, 0.2])
    assert events == [("firing", 1.0), ("tripped", 3.0)]


def test_minor_notifies_and_never_trips() -> None:
    guard = error_guard(severity="minor", **{"for": 0}, window=1)
    evaluator = GuardEvaluator([guard])
    events = run(evaluator, [0.0, 0.2, 0.2, 0.2, 0.0])
    assert events == [("firing", 1.0), ("cleared", 4.0)]
    assert evaluator.tripped == []


def test_too_little_traffic_gives_no_value_and_cannot_fire() -> None:
    events = run(GuardEvaluator([error_guard(**{"for": 0})]), [1.0] * 5, per_look=4)
    assert events == []


def test_tripped_evidence_names_counts_threshold_and_window() -> None:
    evaluator = GuardEvaluator([error_guard(**{"for": 0}, window=1)])
    events = evaluator.update(0.0, look(0, 100, 0)) + evaluator.update(1.0, look(1, 200, 30))
    tripped = [e for e in events if e.trips]
    assert len(tripped) == 1
    evidence = tripped[0].to_dict()
    assert evidence["value"] == pytest.approx(0.3)
    assert evidence["counts"] == {"errors": 30.0, "requests": 100.0}
    assert (evidence["threshold"], evidence["window"], evidence["severity"]) == (
        0.05,
        1,
        "critical",
    )


def test_canary_arm_guard_ignores_the_baseline() -> None:
    guard = error_guard(arm="canary", **{"for": 0}, window=1)
    evaluator = GuardEvaluator([guard])
    first = [
        {"t": 0, "arm": "canary", "requests": 0, "errors": 0},
        {"t": 0, "arm": "baseline", "requests": 0, "errors": 0},
    ]
    second = [
        {"t": 1, "arm": "canary", "requests": 100, "errors": 0},
        {"t": 1, "arm": "baseline", "requests": 100, "errors": 50},
    ]
    assert evaluator.update(0, first) + evaluator.update(1, second) == []


def test_latency_quantile_interpolates_like_histogram_quantile() -> None:
    window = Window(60)
    empty = {"0.1": 0, "0.2": 0, "0.4": 0, "+Inf": 0}
    full = {"0.1": 50, "0.2": 90, "0.4": 100, "+Inf": 100}
    for t, buckets in ((0, empty), (1, full)):
        sample = combine([{"t": t, "arm": "canary", "latency_seconds_bucket": buckets}], "all")
        assert sample is not None
        window.add(sample)
    assert window.quantile(0.5, 10) == pytest.approx(0.1)
    assert window.quantile(0.95, 10) == pytest.approx(0.3)


def test_memory_growth_in_megabytes_per_hour() -> None:
    guard = Guard(name="leak", metric="memory_growth", threshold=50, severity="major", window=10)
    evaluator = GuardEvaluator([guard])
    events = []
    for t in range(6):  # 100 KB/s = 360 MB/h
        memory = 30e6 + 100e3 * t
        events += evaluator.update(float(t), [{"t": t, "arm": "baseline", "memory_bytes": memory}])
    assert [e.kind for e in events] == ["firing", "tripped"]
    assert events[0].evidence["value"] == pytest.approx(360.0)


def test_health_guard_counts_failing_instances() -> None:
    guard = Guard(name="health", metric="health", threshold=0, severity="critical", **{"for": 1})
    evaluator = GuardEvaluator([guard])
    kinds = [
        e.kind for t, failing in enumerate([0, 1, 1]) for e in evaluator.update(t, [], failing)
    ]
    assert kinds == ["firing", "tripped"]


def test_breaches_ignore_for_and_minor_guards() -> None:
    evaluator = GuardEvaluator(
        [error_guard(**{"for": 60}), error_guard(name="m", severity="minor")]
    )
    evaluator.update(0, look(0, 0, 0))
    evaluator.update(1, look(1, 100, 20))
    assert [b["value"] for b in evaluator.breaches()] == [pytest.approx(0.2)]


def test_grace_is_only_for_major() -> None:
    with pytest.raises(ValueError, match="grace applies to major guards only"):
        error_guard(grace=5)
