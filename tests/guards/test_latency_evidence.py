"""Latency guards decide on evidence (issue 16, item 7): a quantile over a handful of
requests is their slowest one, so one slow request must not trip a p95 guard.

Found by running `rollsafe demo --fault none` on a busy machine: the demo's
`canary-latency-p95` guard (100 ms) rolled back a healthy canary that had about
twenty requests in its window, one or two of them slow.
"""

from __future__ import annotations

from typing import Any

from rollsafe.config import Guard
from rollsafe.guards import GuardEvaluator

GUARD = Guard.model_validate(
    {
        "name": "canary-latency-p95",
        "metric": "latency",
        "arm": "canary",
        "quantile": 0.95,
        "threshold": 0.1,
        "for": 0,
        "window": 10,
        "severity": "critical",
    }
)


def looks(per_look: int, slow_per_look: float, n: int = 8) -> list[list[dict[str, Any]]]:
    """Canary looks, one a second: ``per_look`` requests, ``slow_per_look`` of them at 150 ms."""
    result = []
    for t in range(n):
        fast, slow = (per_look - slow_per_look) * t, slow_per_look * t
        buckets = {"0.01": fast, "0.1": fast, "0.25": fast + slow, "+Inf": fast + slow}
        result.append([{"t": float(t), "arm": "canary", "latency_seconds_bucket": buckets}])
    return result


def events(data: list[list[dict[str, Any]]]) -> list[Any]:
    evaluator = GuardEvaluator([GUARD])
    found = []
    for observations in data:
        found += evaluator.update(observations[0]["t"], observations)
    return found


def test_one_slow_request_in_twenty_is_a_p95_above_the_threshold_but_no_trip() -> None:
    # 3 requests a second, one slow request every 3 seconds: ~10% slow over a 20-request
    # window, so the window's p95 is above 100 ms, on 2 or 3 slow requests.
    assert events(looks(3, 1 / 3)) == []


def test_many_slow_requests_trip_with_their_counts_in_the_evidence() -> None:
    found = events(looks(50, 15))  # 30% slower than 100 ms, 100+ of them
    assert [e.kind for e in found] == ["firing", "tripped"]
    evidence = found[0].evidence
    slow, total = evidence["counts"]["slower"], evidence["counts"]["requests"]
    assert slow >= GUARD.min_events
    assert evidence["lower_bound"] > 0.05
    assert f"{slow:g}/{total:g} requests slower" in found[0].summary


def test_a_share_just_above_five_percent_is_not_yet_confident() -> None:
    # 6% slow at 50 requests a second: the p95 is above 100 ms, the evidence is not.
    assert events(looks(50, 3)) == []
