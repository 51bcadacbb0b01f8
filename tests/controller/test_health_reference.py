"""A health step after compare steps holds the release to the baseline's error rate there.

On fakes (tests/controller/rig.py): a canary at 10% compared twice with a clean
baseline (0 errors in 600 baseline requests, 0 in the canary's few), then the
release to everyone and a health step where it fails 5% of requests. The 5%
ceiling alone lets that through (the control rollout without compare steps is
promoted on the same health data); the reference from the compare steps rolls it
back. The reference comes from the journal: a controller killed at the health
step and replaced finds the same one.
"""

from __future__ import annotations

from typing import Any

import pytest

from rollsafe.charts.series import analyses
from rollsafe.controller.reference import health_reference
from rollsafe.journal import Kind
from rollsafe.report.incident import build_incident, render_markdown
from rollsafe.store import RolloutState
from rollsafe.testing import ReplaySource
from rollsafe.typing import Observation
from tests.controller.rig import Crash, Rig

COMPARE = "analysis: {duration: 300ms}"
HEALTH = "analysis: {duration: 300ms, mode: health}"
ROLLOUT = ["canary", COMPARE, COMPARE, "deploy", HEALTH, "promote"]


def compare_looks(looks: int = 6) -> list[Observation]:
    """Both arms clean: 10 canary and 60 baseline requests a look (300 per step)."""
    data: list[Observation] = []
    for k in range(looks):
        data.append({"t": float(k), "arm": "canary", "requests": 10.0 * k, "errors": 0.0})
        data.append({"t": float(k), "arm": "baseline", "requests": 60.0 * k, "errors": 0.0})
    return data


def health_looks(rate: float = 0.05, looks: int = 8) -> list[Observation]:
    """Everyone on the release: 60 requests a look, ``rate`` of them failing."""
    return [
        {"t": float(k), "arm": "all", "requests": 60.0 * k, "errors": 60.0 * k * rate}
        for k in range(looks)
    ]


class PhasedSource(ReplaySource):
    """The compare data until the release goes to everyone (the target's deploy), then the
    health data: each source opened replays its phase's data from the start."""

    def __init__(self, health: list[Observation]) -> None:
        super().__init__(compare_looks())
        self.health = health
        self.phase = "compare"
        self.crash_on_health_opening = False

    def fresh(self) -> ReplaySource:
        if self.phase == "compare":
            return super().fresh()
        if self.crash_on_health_opening:
            self.crash_on_health_opening = False
            raise Crash("controller killed as the health step starts")
        return ReplaySource(self.health)


def phased(rig: Rig, health: list[Observation]) -> PhasedSource:
    source = PhasedSource(health)
    rig.source = source

    def on_call(method: str, arguments: tuple[Any, ...]) -> None:
        if method == "deploy":
            source.phase = "health"

    rig.target.on_call = on_call
    return source


def test_five_percent_after_a_clean_baseline_rolls_back(rig: Rig) -> None:
    phased(rig, health_looks(0.05))
    controller, rollout_id = rig.create(ROLLOUT)
    rollout = controller.run(rollout_id)
    verdicts = rig.journaled(rollout_id, Kind.ANALYSIS_VERDICT)
    assert [v["verdict"]["verdict"] for v in verdicts] == ["pass", "pass", "fail"], verdicts
    assert rollout.state is RolloutState.ROLLED_BACK
    health = verdicts[-1]
    reference = health["reference"]
    assert (reference["events"], reference["trials"], reference["steps"]) == (0, 600, 2)
    assert reference["applied"] is True
    assert reference["ceiling"] < 0.02 < reference["configured_ceiling"]
    (ceiling,) = health["verdict"]["metrics"]
    assert "baseline's 0/600 in 2 compare steps" in ceiling["reason"]
    # The charts replay the step's judge with the journaled reference: the same failure.
    store = rig.stores[-1]
    plan = controller.plan_of(store.get_rollout(rollout_id))
    *_, view = analyses(store.journal(rollout_id), plan)
    assert view.mode == "health"
    (evidence,) = view.metrics
    assert evidence.verdict == "fail"
    assert evidence.threshold == ceiling["threshold"]
    # The incident report says where the ceiling came from.
    report = build_incident(store.journal(rollout_id))
    details = [row["detail"] for row in report["timeline"]]
    assert any("from the baseline's 0/600 in earlier steps" in d for d in details), details
    assert "baseline's 0/600 in 2 compare steps" in render_markdown(report)


def test_without_compare_steps_the_same_health_data_is_promoted(rig: Rig) -> None:
    phased(rig, health_looks(0.05))
    controller, rollout_id = rig.create(["deploy", HEALTH, "promote"])
    assert controller.run(rollout_id).state is RolloutState.PROMOTED
    (verdict,) = rig.journaled(rollout_id, Kind.ANALYSIS_VERDICT)
    assert verdict["verdict"]["verdict"] == "pass"
    assert "reference" not in verdict


def test_a_healthy_release_is_promoted_with_the_reference(rig: Rig) -> None:
    phased(rig, health_looks(0.0025))
    controller, rollout_id = rig.create(ROLLOUT)
    assert controller.run(rollout_id).state is RolloutState.PROMOTED
    health = rig.journaled(rollout_id, Kind.ANALYSIS_VERDICT)[-1]
    assert health["verdict"]["verdict"] == "pass"
    assert health["reference"]["applied"] is True


def test_a_replaced_controller_finds_the_same_reference(rig: Rig) -> None:
    source = phased(rig, health_looks(0.05))
    source.crash_on_health_opening = True
    controller, rollout_id = rig.create(ROLLOUT)
    with pytest.raises(Crash):
        controller.run(rollout_id)
    before = health_reference(
        rig.stores[-1].journal(rollout_id),
        controller.plan_of(rig.stores[-1].get_rollout(rollout_id)).analysis,
    )
    assert before is not None

    rollout = rig.controller().run(rollout_id)  # no in-memory state survives

    assert rollout.state is RolloutState.ROLLED_BACK
    health = rig.journaled(rollout_id, Kind.ANALYSIS_VERDICT)[-1]
    assert health["reference"] == before.to_dict()


def verdict_entry(mode: str, baseline: tuple[float, float], **extra: Any) -> dict[str, Any]:
    events, trials = baseline
    metric = {
        "name": "error_rate",
        "kind": "ratio",
        "arms": {
            "canary": {"events": 0, "trials": 10},
            "baseline": {"events": events, "trials": trials},
        },
    }
    return {"mode": mode, "verdict": {"verdict": "inconclusive", "metrics": [metric]}, **extra}


def test_a_carried_judges_counts_replace_the_previous_steps(rig: Rig) -> None:
    controller, rollout_id = rig.create(["deploy"])
    store = controller.store
    entries = [
        verdict_entry("compare", (1, 200), continued="weak evidence"),
        verdict_entry("compare", (3, 500), carried=True),  # the 200 again, and 300 more
        verdict_entry("health", (50, 50)),  # not a baseline
        verdict_entry("compare", (0, 400)),
    ]
    for data in entries:
        store.append(Kind.ANALYSIS_VERDICT, data, actor="test", rollout_id=rollout_id)
    plan = controller.plan_of(store.get_rollout(rollout_id))
    reference = health_reference(store.journal(rollout_id), plan.analysis)
    assert reference is not None
    assert (reference.events, reference.trials, reference.steps) == (3, 900, 3)
