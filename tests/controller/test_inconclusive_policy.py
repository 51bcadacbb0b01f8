"""Inconclusive analysis steps roll back only on meaningful evidence (issue 16, item 7).

Judge-level tests of ``rollsafe.controller.inconclusive`` (no process), then the
policy through the controller on fakes (tests/controller/rig.py): a step short of
traffic looks on for ``extend`` and passes, one error in fifty requests lets the
rollout go on (journaled), and a canary with several excess errors rolls back.
"""

from __future__ import annotations

import pytest

from rollsafe.config.analysis import AnalysisConfig
from rollsafe.controller.inconclusive import end_of_step, excess_events, meaningful_evidence
from rollsafe.judge import Judge, MetricVerdict
from rollsafe.store import RolloutState
from rollsafe.testing import ReplaySource
from rollsafe.typing import Observation
from tests.controller import rig as rig_module
from tests.controller.rig import Rig

POLICY = AnalysisConfig(
    min_requests=30, on_inconclusive="rollback", rollback_min_e=10, rollback_min_events=3
)


def looks(
    canary_errors: list[int], n: int = 6, canary: int = 10, baseline: int = 90
) -> list[Observation]:
    """``n`` looks, ``canary``/``baseline`` new requests per look; one canary error at each
    look listed in ``canary_errors`` (cumulative counters, as scraped)."""
    data: list[Observation] = []
    for k in range(n):
        errors = sum(1 for at in canary_errors if at <= k)
        data.append({"t": float(k), "arm": "canary", "requests": canary * k, "errors": errors})
        data.append({"t": float(k), "arm": "baseline", "requests": baseline * k, "errors": 0})
    return data


def judged(data: list[Observation], config: AnalysisConfig = POLICY) -> Judge:
    judge = Judge(config)
    for observation in data:
        judge.update(observation)
    return judge


def test_one_error_in_fifty_leans_but_is_not_meaningful() -> None:
    verdict = judged(looks([3])).conclude()
    assert verdict.verdict == "inconclusive"  # e >= conclude_max_e: it leans, as before
    (error_rate,) = [m for m in verdict.metrics if m.name == "error_rate"]
    assert 3 <= error_rate.e_value < 10
    assert meaningful_evidence(verdict, POLICY) is None


def test_strong_evidence_without_enough_excess_errors_is_not_meaningful() -> None:
    verdict = judged(looks([2, 3])).conclude()
    (error_rate,) = [m for m in verdict.metrics if m.name == "error_rate"]
    assert error_rate.e_value >= 10  # two errors in the canary's 10% share: e about 22
    assert excess_events(error_rate, POLICY.max_error_rate) == pytest.approx(2.0)
    assert meaningful_evidence(verdict, POLICY) is None


def test_three_excess_errors_with_e_above_the_threshold_are_meaningful() -> None:
    verdict = judged(looks([2, 3, 4])).conclude()
    assert verdict.verdict == "inconclusive"
    why = meaningful_evidence(verdict, POLICY)
    assert why is not None
    assert why.startswith("error_rate: e=")
    assert "3 excess events" in why


def test_without_rollback_min_e_every_inconclusive_step_counts() -> None:
    old_rule = POLICY.model_copy(update={"rollback_min_e": None})
    verdict = judged(looks([]), old_rule).conclude()
    assert verdict.verdict == "pass"
    short = judged(looks([], n=2), old_rule).conclude()
    assert short.verdict == "inconclusive"
    assert meaningful_evidence(short, old_rule) is not None


def test_excess_events_per_kind() -> None:
    ceiling = MetricVerdict(
        "error_rate_ceiling",
        "ceiling",
        "inconclusive",
        "",
        {"canary": {"events": 9, "trials": 100}},
    )
    assert excess_events(ceiling, 0.05) == pytest.approx(4.0)
    histogram = MetricVerdict(
        "latency", "histogram", "inconclusive", "", {"canary": {"count": 200.0}}, estimate=0.1
    )
    assert excess_events(histogram, 0.05) == pytest.approx(20.0)
    slope = MetricVerdict("memory_growth", "slope", "inconclusive", "", e_value=50.0)
    assert excess_events(slope, 0.05) is None
    assert meaningful_evidence_of([slope]) is not None  # growth counts on its e-value


def meaningful_evidence_of(metrics: list[MetricVerdict]) -> str | None:
    from rollsafe.judge import Verdict

    verdict = Verdict("inconclusive", decided_at=None, t=1.0, looks=1, reason="", metrics=metrics)
    return meaningful_evidence(verdict, POLICY)


def test_a_preview_leaves_the_judge_open_and_extension_ends_on_the_pass() -> None:
    config = POLICY.model_copy(update={"extend": 5.0, "min_requests": 60})
    data = looks([], n=8)  # 10 canary requests per look after the reference
    short = judged(data[:12], config)  # 50 canary requests: short of 60
    assert end_of_step(short, config, overtime=0.0) is None  # looks on
    assert short.verdict.decided_at is None  # still open: more looks count
    for observation in data[12:]:
        short.update(observation)
    ended = end_of_step(short, config, overtime=2.0)
    assert ended is not None
    assert ended.verdict == "pass"
    enough = judged(data, config)
    assert end_of_step(enough, config, overtime=0.0) is not None  # enough traffic: at once


def test_the_extension_ends_at_once_on_meaningful_evidence_and_gives_up_at_its_end() -> None:
    config = POLICY.model_copy(update={"extend": 5.0})
    meaningful = judged(looks([2, 3, 4]), config)
    ended = end_of_step(meaningful, config, overtime=0.0)
    assert ended is not None
    assert ended.verdict == "inconclusive"
    weak = judged(looks([3]), config)
    assert end_of_step(weak, config, overtime=1.0) is None
    ended = end_of_step(weak, config, overtime=5.0)
    assert ended is not None
    assert ended.verdict == "inconclusive"


# -- through the controller ----------------------------------------------------


ANALYSIS = "analysis: {duration: 300ms}"
"""Long enough for the six replayed looks (10 ms apart) on a busy machine; then the
replay repeats its last look, which adds nothing."""


def policy_rig(rig: Rig, monkeypatch: pytest.MonkeyPatch, data: list[Observation]) -> Rig:
    analysis = (
        "analysis: {interval: 10ms, on_inconclusive: rollback, min_requests: 30, "
        "extend: 30ms, rollback_min_e: 10, rollback_min_events: 3}"
    )
    plan = rig_module.PLAN.replace(
        "analysis: {{interval: 10ms, on_inconclusive: rollback}}",
        analysis.replace("{", "{{").replace("}", "}}"),
    )
    assert plan != rig_module.PLAN
    monkeypatch.setattr(rig_module, "PLAN", plan)
    rig.source = ReplaySource(data)
    return rig


def test_weak_evidence_lets_the_rollout_go_on_and_says_so(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy_rig(rig, monkeypatch, looks([3]))
    controller, rollout_id = rig.create(["deploy", "flag", ANALYSIS, "promote"])
    assert controller.run(rollout_id).state is RolloutState.PROMOTED
    (verdict,) = rig.journaled(rollout_id, "analysis.verdict")
    assert verdict["verdict"]["verdict"] == "inconclusive"
    assert verdict["meaningful_evidence"] is None
    assert "without meaningful evidence" in verdict["continued"]


def test_meaningful_evidence_rolls_back(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    policy_rig(rig, monkeypatch, looks([2, 3, 4]))
    controller, rollout_id = rig.create(["deploy", "flag", ANALYSIS, "promote"])
    rollout = controller.run(rollout_id)
    assert rollout.state is RolloutState.ROLLED_BACK
    assert "analysis inconclusive" in rollout.reason
    (verdict,) = rig.journaled(rollout_id, "analysis.verdict")
    assert "excess events" in verdict["meaningful_evidence"]


def test_an_undecided_judge_goes_on_into_the_next_step_with_its_evidence(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each analysis step opens a fresh cursor over the same replayed data: two canary
    # errors (e about 22, two excess errors: weak) in each step. A fresh judge in the
    # second step would see two again and let the rollout go on; the carried one
    # counts four (its counters drop the look where they went back, a reset).
    policy_rig(rig, monkeypatch, looks([2, 3]))
    controller, rollout_id = rig.create(["deploy", "flag", ANALYSIS, ANALYSIS, "promote"])
    rollout = controller.run(rollout_id)
    verdicts = rig.journaled(rollout_id, "analysis.verdict")
    assert verdicts[0]["continued"]
    assert rollout.state is RolloutState.ROLLED_BACK, verdicts[-1]
    assert "4 excess events" in verdicts[-1]["meaningful_evidence"]
