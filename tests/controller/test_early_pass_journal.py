"""An analysis step that passes early journals the evidence, on fakes (no process, no socket)."""

from __future__ import annotations

import time

from rollsafe.journal import Kind
from rollsafe.store import RolloutState
from rollsafe.testing import ReplaySource, steady
from tests.controller.rig import Rig


def test_a_healthy_step_passes_early_and_journals_bounds_against_margins(rig: Rig) -> None:
    # 1% errors in both arms, 500 requests per arm per look: the strict pass (0.1 pp)
    # is far off, the early pass (0.5 pp) comes after some tens of looks.
    rig.source = ReplaySource(
        steady(300, requests=500, canary_error_rate=0.01, baseline_error_rate=0.01)
    )
    controller, rollout_id = rig.create(["canary", "analysis: {duration: 60s}", "promote"])

    started = time.monotonic()
    rollout = controller.run(rollout_id)

    assert rollout.state is RolloutState.PROMOTED
    assert time.monotonic() - started < 30  # not the step's 60 s
    [early] = rig.journaled(rollout_id, Kind.ANALYSIS_PASSED_EARLY)
    assert early["duration"] == 60.0
    assert early["elapsed"] >= 30.0  # the default min_duration, in observation time
    assert min(early["requests"].values()) >= 300
    comparisons = {c["metric"]: c for c in early["comparisons"]}
    errors = comparisons["error_rate"]
    assert errors["passed"]
    assert 0 < errors["upper"] <= errors["margin"] == 0.005
    [verdict] = rig.journaled(rollout_id, Kind.ANALYSIS_VERDICT)
    assert verdict["passed_early"] is True
    assert verdict["verdict"]["early_pass"]["comparisons"] == early["comparisons"]


def test_the_live_output_names_an_early_pass(rig: Rig) -> None:
    from rollsafe.cli.output import describe

    rig.source = ReplaySource(
        steady(300, requests=500, canary_error_rate=0.01, baseline_error_rate=0.01)
    )
    controller, rollout_id = rig.create(["canary", "analysis: {duration: 60s}", "promote"])
    controller.run(rollout_id)
    [entry] = [
        e for e in rig.stores[-1].journal(rollout_id) if e.kind == Kind.ANALYSIS_PASSED_EARLY
    ]
    line = describe(entry)
    assert line is not None
    assert "passed early[/green] after 4" in line  # some 40-odd seconds of observations
    assert "of 60s" in line
