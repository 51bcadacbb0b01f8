"""Missing evidence never passes: no data, one arm, no fields, too little traffic."""

from __future__ import annotations

import numpy as np

from rollsafe.config import AnalysisConfig
from rollsafe.judge import Judge, replay
from tests.judge.streams import Arm, stream


def test_no_observations_is_inconclusive_even_at_the_end() -> None:
    judge = Judge()
    assert judge.verdict.verdict == "inconclusive"
    assert judge.verdict.decided_at is None
    concluded = judge.conclude()
    assert concluded.verdict == "inconclusive"
    assert concluded.basis == "duration"
    assert "no metric fields" in concluded.reason


def test_one_arm_only_never_passes() -> None:
    rng = np.random.default_rng(1)
    judge = Judge()
    observations = [o for o in stream(rng, Arm(), Arm(), 300) if o["arm"] == "canary"]
    for observation in observations:
        verdict = judge.update(observation)
        assert verdict.verdict == "inconclusive"
    concluded = judge.conclude()
    assert concluded.verdict == "inconclusive"
    assert "baseline" in concluded.reason


def test_observations_without_metric_fields_never_pass() -> None:
    judge = Judge()
    for t in range(100):
        judge.update({"t": float(t), "arm": "canary"})
        judge.update({"t": float(t), "arm": "baseline"})
    assert judge.conclude().verdict == "inconclusive"


def test_too_little_traffic_is_inconclusive_at_the_end() -> None:
    rng = np.random.default_rng(2)
    judge = Judge(AnalysisConfig(min_requests=500))
    for observation in stream(rng, Arm(rate=2), Arm(rate=2), 30):
        judge.update(observation)
    verdict = judge.conclude()
    assert verdict.verdict == "inconclusive"
    assert "too little traffic" in verdict.reason
    assert verdict.decided_at == 29.0
    assert any("too little traffic" in m.reason for m in verdict.metrics)


def test_enough_quiet_traffic_passes_at_the_end() -> None:
    rng = np.random.default_rng(3)
    judge = Judge(AnalysisConfig(min_requests=30))
    for observation in stream(rng, Arm(rate=4, error_rate=0), Arm(rate=36, error_rate=0), 10):
        judge.update(observation)
    assert judge.verdict.decided_at is None
    verdict = judge.conclude()
    assert verdict.verdict == "pass"
    assert verdict.basis == "duration"
    assert all(m.verdict == "pass" for m in verdict.metrics)
    assert judge.update({"t": 99.0, "arm": "canary", "requests": 1e6, "errors": 1e6}) is verdict


def _end_of_step(rng: np.random.Generator, canary: Arm, baseline: Arm, looks: int) -> str:
    config = AnalysisConfig(min_requests=30)
    return replay(stream(rng, canary, baseline, looks), config, conclude=True).verdict


def test_end_of_step_does_not_pass_on_evidence_short_of_failing() -> None:
    """The demo's 50% step: ~20 checkouts/s per arm for 8 s, canary 5% errors, baseline 0%."""
    rng = np.random.default_rng(4)
    outcomes = [_end_of_step(rng, Arm(20, 0.05), Arm(20, 0.0), 8) for _ in range(300)]
    assert outcomes.count("pass") / 300 < 0.05
    assert outcomes.count("fail") > 0


def test_end_of_step_passes_most_healthy_short_steps() -> None:
    rng = np.random.default_rng(5)
    outcomes = [_end_of_step(rng, Arm(20, 0.01), Arm(20, 0.01), 8) for _ in range(300)]
    assert outcomes.count("fail") == 0
    assert outcomes.count("pass") / 300 > 0.9


def test_the_first_observation_is_the_reference() -> None:
    judge = Judge(AnalysisConfig(min_requests=10))
    judge.update({"t": 0.0, "arm": "canary", "requests": 1e6, "errors": 5e5})
    judge.update({"t": 0.0, "arm": "baseline", "requests": 1e6, "errors": 0})
    judge.update({"t": 1.0, "arm": "canary", "requests": 1e6 + 100, "errors": 5e5})
    verdict = judge.update({"t": 1.0, "arm": "baseline", "requests": 1e6 + 100, "errors": 0})
    assert verdict.verdict != "fail"
    ratio = next(m for m in verdict.metrics if m.name == "error_rate")
    assert ratio.arms["canary"]["trials"] == 100
    assert ratio.arms["canary"]["events"] == 0
