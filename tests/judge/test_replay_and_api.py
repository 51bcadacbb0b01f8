"""``replay`` and the Judge API: verdicts with evidence, modes, configured metrics, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rollsafe.config import AnalysisConfig, RatioMetric, parse_document
from rollsafe.errors import PlanError
from rollsafe.judge import Judge, replay
from tests.judge.streams import Arm, stream

ALL_FIELDS = ("requests", "errors", "latency_seconds_bucket", "memory_bytes")


def test_replay_stops_at_the_first_final_verdict() -> None:
    rng = np.random.default_rng(51)
    observations = list(stream(rng, Arm(error_rate=0.3), Arm(), 300))
    verdict = replay(observations)
    assert verdict.verdict == "fail"
    assert verdict.decided_at is not None
    assert verdict.decided_at < 30
    assert verdict.basis == "sequential"


def test_verdict_to_dict_is_strict_json_with_evidence_for_every_metric() -> None:
    rng = np.random.default_rng(52)
    arms = Arm(fields=ALL_FIELDS), Arm(fields=ALL_FIELDS)
    verdict = replay(stream(rng, *arms, 120), conclude=True)
    data = json.loads(json.dumps(verdict.to_dict(), allow_nan=False))
    names = [m["name"] for m in data["metrics"]]
    assert sorted(names) == ["error_rate", "error_rate_ceiling", "latency", "memory_growth"]
    ratio = next(m for m in data["metrics"] if m["name"] == "error_rate")
    assert ratio["arms"]["canary"]["trials"] > 0
    assert ratio["low"] <= ratio["estimate"] <= ratio["high"]
    # A weighted Bonferroni: the error rate gets half of alpha (fails at 1 / (alpha / 2)),
    # and the metrics' levels 1 / threshold add up to alpha.
    assert ratio["threshold"] == pytest.approx(2 / 0.01)
    assert sum(1 / m["threshold"] for m in data["metrics"]) == pytest.approx(0.01)
    assert ratio["reason"].startswith("error_rate: canary")
    assert data["decided_at"] == data["t"] == 119.0


def test_configured_metrics_use_their_own_fields() -> None:
    config = AnalysisConfig(
        metrics=[RatioMetric(name="timeouts", numerator="timeouts", denominator="calls")]
    )
    judge = Judge(config)
    for t in range(40):
        judge.update({"t": float(t), "arm": "canary", "calls": 100.0 * t, "timeouts": 30.0 * t})
        verdict = judge.update({"t": float(t), "arm": "baseline", "calls": 100.0 * t})
    assert verdict.verdict == "fail"
    failed = [m.name for m in verdict.metrics if m.verdict == "fail"]
    # The error ceiling applies to the first ratio metric, here timeouts/calls.
    assert failed == ["error_rate_ceiling", "timeouts"]


def test_health_mode_pools_arms_against_the_ceiling() -> None:
    rng = np.random.default_rng(53)
    bad = replay(stream(rng, Arm(error_rate=0.2), Arm(error_rate=0.2), 60), mode="health")
    assert bad.verdict == "fail"
    assert [m.name for m in bad.metrics] == ["error_rate_ceiling"]
    assert "all" in bad.metrics[0].arms
    quiet = replay(stream(rng, Arm(rate=1), Arm(rate=1), 5), mode="health", conclude=True)
    assert quiet.verdict == "inconclusive"
    assert "too little traffic" in quiet.reason
    good = replay(stream(rng, Arm(), Arm(), 30), mode="health", conclude=True)
    assert good.verdict == "pass"


def test_bad_observations_are_refused_with_a_reason() -> None:
    judge = Judge()
    with pytest.raises(ValueError, match="'t'"):
        judge.update({"arm": "canary"})
    with pytest.raises(ValueError, match="'arm'"):
        judge.update({"t": 1.0})
    with pytest.raises(ValueError, match="mapping"):
        judge.update([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode"):
        Judge(mode="canary")  # type: ignore[arg-type]


def test_analysis_config_errors_are_located() -> None:
    text = "alpha: 0.01\nmetrics:\n  - kind: ratio\n  - kind: ratio\n"
    with pytest.raises(PlanError, match="unique"):
        parse_document(text, AnalysisConfig, source="analysis.yaml")
    with pytest.raises(PlanError, match=r"analysis.yaml:1: alpha"):
        parse_document("alpha: 3\n", AnalysisConfig, source="analysis.yaml")


@pytest.mark.parametrize("mode", ["compare", "health"])
def test_a_kept_verdict_keeps_the_evidence_of_its_own_look(mode: str) -> None:
    """A look's verdict holds a snapshot of the checks' state at its look: kept verdicts,
    read at the end, show their own look."""
    rng = np.random.default_rng(57)
    arms = Arm(fields=ALL_FIELDS, median=0.06), Arm(fields=ALL_FIELDS)
    observations = list(stream(rng, *arms, 90))
    judge = Judge(mode=mode)  # type: ignore[arg-type]
    kept = {}
    for i, observation in enumerate(observations):
        verdict = judge.update(observation)
        if i % 3 == 1:
            kept[i] = verdict
        if verdict.decided_at is not None:
            break
    assert len(kept) >= 2
    for i, verdict in kept.items():
        again = Judge(mode=mode)  # type: ignore[arg-type]
        for observation in observations[: i + 1]:
            expected = again.update(observation)
        assert [m.to_dict() for m in verdict.metrics] == [m.to_dict() for m in expected.metrics]
        assert verdict.reason == expected.reason
