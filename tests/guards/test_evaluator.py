"""Guard semantics: Prometheus `for`, severities, grace, and the values they compare."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rollsafe.config import Guard
from rollsafe.guards import GuardEvaluator, Window, combine
from rollsafe.stats import rate_bounds


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
    # At t=3 the window still spans a quiet second: 20 errors in 200 requests, whose 99%
    # lower bound is below 5%. It first holds at t=4 (40 in 200); for 3s: it fires at t=7.
    assert events == [("firing", 7.0), ("tripped", 7.0)]


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


def test_grace_is_only_for_major() -> None:
    with pytest.raises(ValueError, match="grace applies to major guards only"):
        error_guard(grace=5)


def test_a_rate_guard_needs_evidence_not_one_unlucky_request() -> None:
    # Issue 16: the demo's guard tripped on 1 error in 48 canary requests (2.08% > 2%).
    guard = error_guard(threshold=0.02, **{"for": 0}, window=10)
    evaluator = GuardEvaluator([guard])
    events = evaluator.update(0.0, look(0, 0, 0)) + evaluator.update(10.0, look(10, 96, 2))
    assert events == []
    assert evaluator.tripped == []


def test_a_natural_error_rate_below_the_threshold_never_trips() -> None:
    # 0.5% errors against a 2% guard on a 10 s window at 5 requests/s, for an hour.
    rng = np.random.default_rng(5)
    guard = error_guard(threshold=0.02, **{"for": 3}, window=10, severity="major")
    evaluator = GuardEvaluator([guard])
    requests = errors = 0.0
    for t in range(3600):
        n = float(rng.poisson(5))
        requests, errors = requests + n, errors + float(rng.binomial(int(n), 0.005))
        assert not [e for e in evaluator.update(float(t), look(t, requests, errors)) if e.trips]


def test_a_whole_outage_trips_as_soon_as_the_minimum_is_answered() -> None:
    guard = error_guard(**{"for": 0}, window=5, min_requests=20)
    evaluator = GuardEvaluator([guard])
    kinds = [
        (e.kind, t) for t in range(4) for e in evaluator.update(float(t), look(t, 12 * t, 12 * t))
    ]
    assert kinds == [("firing", 2), ("tripped", 2)]


def test_too_few_events_cannot_hold_whatever_the_rate() -> None:
    guard = error_guard(**{"for": 0}, window=5, min_requests=2, min_events=5)
    evaluator = GuardEvaluator([guard])
    events = evaluator.update(0.0, look(0, 0, 0)) + evaluator.update(1.0, look(1, 4, 4))
    assert events == []
    events = evaluator.update(2.0, look(2, 10, 10))
    assert [e.kind for e in events] == ["firing", "tripped"]


def test_tripped_evidence_carries_the_bound_and_the_minimums() -> None:
    evaluator = GuardEvaluator([error_guard(**{"for": 0}, window=1)])
    events = evaluator.update(0.0, look(0, 100, 0)) + evaluator.update(1.0, look(1, 200, 30))
    evidence = next(e for e in events if e.trips).to_dict()
    low, _ = rate_bounds(30, 100, 0.01)
    assert evidence["lower_bound"] == pytest.approx(low)
    assert 0.05 < evidence["lower_bound"] < 0.3
    assert (evidence["confidence"], evidence["min_requests"], evidence["min_events"]) == (
        0.99,
        10,
        5,
    )
    summary = next(e for e in events if e.trips).summary
    assert summary.startswith("error_rate 30% (30/100) over 1s, 99% lower bound ")
    assert summary.endswith(" > 5%")
