"""A rollout judged against its error budget: burn-rate guards in the controller, on fakes.

The plan's SLO is 99.9% over 28 days compressed 7,200 times (the page tier's
1h/5m become 500 ms / 42 ms), and the monitor looks every 10 ms. A release
failing half its requests burns the budget 500 times too fast: the page tier
trips within a fraction of a second and the rollout is rolled back (the flag
turned off), its reason
and incident trigger naming the SLO. A healthy release is promoted.
"""

from __future__ import annotations

import time

from rollsafe.report.incident import build_incident, render_markdown
from rollsafe.store import RolloutState
from rollsafe.testing import ReplaySource
from rollsafe.typing import Observation
from tests.controller.rig import PLAN, Rig

SLOS = """\
slos:
  compress: 7200
  objectives:
    - {name: availability, target: 0.999}
"""


def traffic(error_rate: float) -> ReplaySource:
    started = time.monotonic()

    def look(t: float) -> list[Observation]:
        requests = 10_000 * (time.monotonic() - started)  # 10,000 requests a second
        return [{"t": t, "arm": "canary", "requests": requests, "errors": requests * error_rate}]

    return ReplaySource(look)


def start(rig: Rig, error_rate: float) -> str:
    rig.source = traffic(error_rate)
    steps = "  - flag: {name: checkout, rollout: 50}\n  - pause: {duration: 2s}\n  - promote:"
    text = PLAN.format(
        root=rig.root, steps=steps, watch="0s", levels="[flags, release]", guards="[]"
    )
    plan = rig.root / "plan.yaml"
    plan.write_text(text + SLOS)
    return rig.controller().create(plan).id


def test_a_release_burning_the_budget_fast_is_rolled_back(rig: Rig) -> None:
    rollout_id = start(rig, 0.5)
    began = time.monotonic()
    rollout = rig.controller().run(rollout_id)

    assert rollout.state is RolloutState.ROLLED_BACK
    assert time.monotonic() - began < 2.0  # the guard, not the end of the pause
    assert rollout.reason.startswith("guard slo-availability-page-500ms-42ms (critical) tripped:")
    assert "slo availability burns its error budget at" in rollout.reason
    assert rig.flag_rollout()["enabled"] is False  # level 1: the flag turned off
    tripped = rig.journaled(rollout_id, "guard.tripped")
    assert tripped[0]["slo"] == "availability"
    assert tripped[0]["value"] > 14.4
    assert 0 < tripped[0]["budget_burned"] < 1
    report = build_incident(rig.stores[-1].journal(rollout_id))
    assert report["trigger"]["name"] == "slo-availability-page-500ms-42ms"
    assert "burn_rate" in report["trigger"]["description"]
    assert "slo-availability-page-500ms-42ms" in render_markdown(report)


def test_a_healthy_release_is_promoted(rig: Rig) -> None:
    rollout_id = start(rig, 0.0002)  # 0.2x: well within budget
    rollout = rig.controller().run(rollout_id)
    assert rollout.state is RolloutState.PROMOTED
    assert rig.journaled(rollout_id, "guard.tripped") == []
