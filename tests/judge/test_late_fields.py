"""Default metrics are chosen from what both arms show, not from the first observation alone.

A histogram's series is absent until its first request: a canary just switched on,
or a fresh canary instance, reports ``requests: 0`` and no latency buckets at the
first look. Found under load in `rollsafe demo --fault latency`: the judge chose its
checks from that observation, judged no latency for the whole rollout and
promoted a release whose every tenth checkout was 150-200 ms slower.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rollsafe.judge import Judge
from tests.judge.streams import Arm, look

FIELDS = ("requests", "errors", "latency_seconds_bucket")


def without_latency(observation: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in observation.items() if k != "latency_seconds_bucket"}


def metric_names(judge: Judge) -> list[str]:
    return [metric.name for metric in judge.conclude().metrics]


def test_a_canary_without_requests_at_the_first_look_still_has_its_latency_judged() -> None:
    rng = np.random.default_rng(3)
    canary = Arm(rate=40, error_rate=0.0, median=0.2, fields=FIELDS)
    baseline = Arm(rate=40, error_rate=0.0, median=0.05, fields=FIELDS)
    judge = Judge()
    judge.update({"t": 0.0, "arm": "canary", "requests": 0.0, "errors": 0.0})
    verdict = judge.update(look(rng, baseline, "baseline", 0.0))
    for t in range(1, 60):
        judge.update(look(rng, canary, "canary", float(t)))
        verdict = judge.update(look(rng, baseline, "baseline", float(t)))
        if verdict.decided_at is not None:
            break
    assert verdict.verdict == "fail", verdict.reason
    assert "latency" in verdict.reason


def idle_looks(judge: Judge, looks: int) -> Judge:
    for t in range(looks):
        for arm in ("canary", "baseline"):
            judge.update({"t": float(t), "arm": arm, "requests": 0.0, "errors": 0.0})
    return judge


def test_no_request_in_either_arm_yet_waits_for_the_first() -> None:
    waiting = idle_looks(Judge(), 3).conclude()
    assert waiting.reason.endswith(": no request observed yet in either arm")
    rng = np.random.default_rng(4)
    judge = idle_looks(Judge(), 3)
    canary = Arm(rate=40, error_rate=0.0, median=0.2, fields=FIELDS)
    baseline = Arm(rate=40, error_rate=0.0, median=0.05, fields=FIELDS)
    for t in range(3, 30):
        judge.update(look(rng, canary, "canary", float(t)))
        judge.update(look(rng, baseline, "baseline", float(t)))
    assert "latency" in metric_names(judge)
    assert judge.verdict.verdict == "fail"


def test_a_service_without_a_histogram_is_judged_on_what_it_has() -> None:
    rng = np.random.default_rng(5)
    canary, baseline = Arm(rate=60, error_rate=0.01), Arm(rate=60, error_rate=0.01)
    judge = Judge()
    judge.update({"t": 0.0, "arm": "canary", "requests": 0.0, "errors": 0.0})
    judge.update({"t": 0.0, "arm": "baseline", "requests": 0.0, "errors": 0.0})
    for t in range(1, 400):
        judge.update(without_latency(look(rng, canary, "canary", float(t))))
        judge.update(without_latency(look(rng, baseline, "baseline", float(t))))
    assert metric_names(judge) == ["error_rate_ceiling", "error_rate"]
    assert judge.conclude().verdict == "pass"


def test_the_first_looks_are_the_reference_whoever_brought_the_fields() -> None:
    # The baseline's first observation brings the histogram; the canary's first is the
    # canary's reference all the same: its 30 earlier requests are not counted.
    judge = Judge()
    judge.update({"t": 0.0, "arm": "canary", "requests": 30.0, "errors": 30.0})
    judge.update({"t": 0.0, "arm": "baseline", "requests": 100.0, "errors": 0.0,
                  "latency_seconds_bucket": {"0.1": 100.0, "+Inf": 100.0}})  # fmt: skip
    judge.update({"t": 1.0, "arm": "canary", "requests": 40.0, "errors": 30.0})
    verdict = judge.update({"t": 1.0, "arm": "baseline", "requests": 110.0, "errors": 0.0,
                            "latency_seconds_bucket": {"0.1": 110.0, "+Inf": 110.0}})  # fmt: skip
    ratio = next(metric for metric in verdict.metrics if metric.name == "error_rate")
    assert ratio.arms["canary"] == {"events": 0.0, "trials": 10.0, "rate": 0.0}
    assert "latency" in [metric.name for metric in verdict.metrics]


def test_observations_of_other_arms_choose_nothing() -> None:
    judge = Judge()
    judge.update({"t": 0.0, "arm": "green", "requests": 5.0, "errors": 0.0})
    reason = judge.conclude().reason
    assert reason.endswith(": waiting for observations of canary, baseline (ignored arms: green)")
