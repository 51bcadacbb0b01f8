"""Risk-based caution at rollout creation, over a real git repository and a real store.

The first rollout of a range rolls back (its test gate finds no report); the journal
links it to the files the range touched. The second rollout of the same range scores
higher for that history, and its plan's caution for the level is applied: smaller
flag increments each watched by analysis, longer analysis, an approval pause, all
journaled and visible in the stored plan.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rollsafe.config.risk import Caution
from rollsafe.controller.caution import cautious_steps
from rollsafe.errors import RiskInputError
from rollsafe.gates.risk import DEFAULT_WEIGHTS
from rollsafe.journal.kinds import Kind
from rollsafe.report.incident import build_incident, render_markdown
from rollsafe.store import RolloutState, StepState
from tests.controller.rig import PLAN, Rig
from tests.gates.gitrepo import Repo, lines

STEPS = """\
  - flag: {name: checkout, rollout: 10}
  - analysis: {duration: 40ms}
  - flag: {name: checkout, rollout: 50}
  - analysis: {duration: 40ms}
  - promote:
"""
FAILING_STEPS = f"""\
  - test: {{command: ["{sys.executable}", "-c", "pass", "{{junit}}"]}}
  - promote:
"""
RISK = """\
risk:
  repo: shop
  range: v1..v2
  critical_paths: [src/payments/]
  caution:
    medium: {max_increment: 20, analysis_factor: 2, approval: true}
    high: {max_increment: 10, analysis_factor: 3, approval: true}
"""


@pytest.fixture
def shop(rig: Rig) -> Repo:
    repo = Repo(rig.root / "shop")
    repo.commit("first", {"src/app/cart.py": lines(10)}, tag="v1")
    repo.commit(
        "big change",
        {
            "src/app/cart.py": lines(500, "y"),
            "src/payments/charge.py": lines(50),
            "requirements.txt": "httpx\n",
        },
        tag="v2",
    )
    return repo


def write_plan(rig: Rig, steps: str, risk: str = RISK) -> Path:
    plan = rig.root / "plan.yaml"
    text = PLAN.format(root=rig.root, steps=steps, watch="0s", levels="[flags]", guards="[]")
    plan.write_text(text + risk)
    return plan


def test_a_range_that_rolled_back_before_scores_higher_and_gets_more_caution(
    rig: Rig, shop: Repo
) -> None:
    del shop
    controller = rig.controller()
    no_caution = RISK[: RISK.index("  caution:")]
    first = controller.create(write_plan(rig, FAILING_STEPS, no_caution))
    assert controller.run(first.id).state is RolloutState.ROLLED_BACK
    (before,) = rig.journaled(first.id, Kind.RISK_SCORED)
    assert set(before["files"]) == {"requirements.txt", "src/app/cart.py", "src/payments/charge.py"}
    assert before["level"] == "medium"
    markdown = render_markdown(build_incident(rig.stores[-1].journal(first.id)))
    assert f"- risk of v1..v2: **{before['score']}/100 (medium)**" in markdown
    assert "  - churn: " in markdown

    second = controller.create(write_plan(rig, STEPS))

    (scored,) = rig.journaled(second.id, Kind.RISK_SCORED)
    history = next(r for r in scored["breakdown"] if r["factor"] == "rollback_history")
    assert history["signal"] == 0.875  # three files, each in one rollback: 1 - 0.5^3
    assert history["points"] == round(DEFAULT_WEIGHTS["rollback_history"] * 0.875, 1)
    assert scored["score"] == pytest.approx(before["score"] + history["points"], abs=0.1)
    assert scored["level"] == "high"
    steps = [(s.kind, s.spec.get("rollout"), s.spec.get("duration"))
             for s in rig.stores[-1].steps(second.id)]  # fmt: skip
    watched = ("analysis", None, pytest.approx(0.12))  # 40 ms times the high level's 3
    assert steps == [
        ("pause", None, None),  # the approval, before the first flag change
        ("flag", 10, None), watched,
        ("flag", 20, None), watched,
        ("flag", 30, None), watched,
        ("flag", 40, None), watched,
        ("flag", 50, None), watched,
        ("promote", None, None),
    ]  # fmt: skip
    (applied,) = rig.journaled(second.id, Kind.RISK_CAUTION_APPLIED)
    assert applied["level"] == "high"
    assert applied["changes"] == [
        "approval pause inserted before step 1 (flag)",
        "step 2 analysis: 0.04s -> 0.12s",
        "step 3 flag checkout 10% -> 50%: now by way of 20%, 30%, 40% "
        "(each watched by the analysis after it)",
        "step 4 analysis: 0.04s -> 0.12s",
    ]
    stored = rig.stores[-1].get_rollout(second.id).plan_text
    assert stored.startswith(f"# rollsafe: steps made more careful for risk {scored['score']}")

    # The approval pause holds the rollout until a person resumes it.
    assert controller.run(second.id).state is RolloutState.PAUSED
    assert rig.step_states(second.id)[1] is StepState.PENDING
    assert controller.run(second.id, resume=True).state is RolloutState.PROMOTED


def test_an_unknown_range_refuses_the_rollout_and_writes_nothing(rig: Rig, shop: Repo) -> None:
    del shop
    controller = rig.controller()
    plan = write_plan(rig, STEPS, RISK.replace("v1..v2", "v0..v2"))
    with pytest.raises(RiskInputError, match="unknown revision 'v0'"):
        controller.create(plan)
    assert controller.store.list_rollouts() == []
    assert controller.store.journal() == []


def test_a_low_risk_range_changes_nothing(rig: Rig, shop: Repo) -> None:
    del shop
    controller = rig.controller()
    rollout = controller.create(write_plan(rig, STEPS), risk_range="v2..v2")
    (scored,) = rig.journaled(rollout.id, Kind.RISK_SCORED)
    assert (scored["score"], scored["level"]) == (0.0, "low")
    assert rig.journaled(rollout.id, Kind.RISK_CAUTION_APPLIED) == []
    assert [s.kind for s in rig.stores[-1].steps(rollout.id)] == [
        "flag", "analysis", "flag", "analysis", "promote",
    ]  # fmt: skip


def test_canary_weights_and_timed_pauses_are_made_careful_too() -> None:
    steps = [
        {"deploy": {"release": "1.1.0"}},
        {"canary": {"release": "1.2.0", "weight": 30}},
        {"pause": {"duration": "10s"}},
        {"canary": {"release": "1.2.0", "weight": 100}},
        {"pause": None},
        {"promote": None},
    ]
    careful, changes = cautious_steps(
        steps, Caution(max_increment=25, analysis_factor=2, approval=True)
    )
    assert careful == [
        {"pause": {}},
        {"deploy": {"release": "1.1.0"}},
        {"canary": {"release": "1.2.0", "weight": 25}},
        {"canary": {"release": "1.2.0", "weight": 30}},
        {"pause": {"duration": "20s"}},
        {"canary": {"release": "1.2.0", "weight": 55}},
        {"canary": {"release": "1.2.0", "weight": 80}},
        {"canary": {"release": "1.2.0", "weight": 100}},
        {"pause": {}},  # waits for a person: nothing to lengthen
        {"promote": {}},
    ]
    assert changes == [
        "approval pause inserted before step 1 (deploy)",
        "step 2 canary weight 0% -> 30%: now by way of 25%",
        "step 3 pause: 10s -> 20s",
        "step 4 canary weight 30% -> 100%: now by way of 55%, 80%",
    ]
