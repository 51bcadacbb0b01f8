"""The error-budget policy: a rollout of a service short of budget waits for an override.

The controller runs on rollsafe.testing's fakes over a real SQLite store
(tests/controller/rig.py); the budget comes from a real Prometheus scraping
loopback expositions whose counters the test writes: one service that burned
10x its budget over the (compressed, 2-minute) period, one that burned nothing
(those two tests are slow: they start Prometheus). An unreadable budget needs no
server: nothing listens on its port.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rollsafe.cli import app
from rollsafe.cli.output import describe
from rollsafe.controller.budgets import override
from rollsafe.store import RolloutState, StepState
from tests.controller.rig import PLAN, STEP, Rig
from tests.metrics.exposition import Exposition
from tests.metrics.prometheus_server import Prometheus
from tests.ports import unused_port

COMPRESS = 28 * 86400 / 120  # the 28-day period becomes 2 minutes


@dataclass
class Budgets:
    url: str


@pytest.fixture(scope="module")
def budgets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Budgets]:
    root = tmp_path_factory.mktemp("budgets")
    burning, healthy = Exposition(), Exposition()
    burning.counters(old_200=100, old_500=0)
    healthy.counters(old_200=100, old_500=0)
    prometheus = Prometheus(root)
    try:
        prometheus.start(
            {
                "burning": [burning.url.removeprefix("http://")],
                "healthy": [healthy.url.removeprefix("http://")],
            }
        )
        prometheus.wait_until(
            'count(http_requests_total{job=~"burning|healthy"})', lambda v: v == 4
        )
        # 900 more requests each; the burning service fails 100 of them: 10% against a
        # 1% budget, so 1 - 10 = -900% of it is left. The healthy one fails none.
        burning.counters(old_200=1000, old_500=100)
        healthy.counters(old_200=1000, old_500=0)
        prometheus.wait_until('sum(http_requests_total{job="burning"})', lambda v: v == 1100)
        prometheus.wait_until('sum(http_requests_total{job="healthy"})', lambda v: v == 1000)
        yield Budgets(prometheus.url)
    finally:
        prometheus.stop()
        burning.stop()
        healthy.stop()


def slos(url: str, job: str, *, floor: float = 0.25, on_unknown: str = "wait") -> str:
    return f"""\
slos:
  selector: {{job: {job}}}
  compress: {COMPRESS}
  budget: {{floor: {floor}, prometheus: "{url}", on_unknown: {on_unknown}, timeout: 2s}}
  objectives:
    - {{name: availability, target: 0.99}}
"""


def create(rig: Rig, section: str) -> str:
    plan = rig.root / "plan.yaml"
    steps = "\n".join(f"  - {STEP[kind]}" for kind in ("deploy", "promote"))
    text = PLAN.format(
        root=rig.root, steps=steps, watch="0s", levels="[flags, release, restore]", guards="[]"
    )
    plan.write_text(text + section)
    return rig.controller().create(plan).id


@pytest.mark.slow
def test_a_service_short_of_budget_waits_for_an_override(rig: Rig, budgets: Budgets) -> None:
    rollout_id = create(rig, slos(budgets.url, "burning"))

    rollout = rig.controller().run(rollout_id)

    assert rollout.state is RolloutState.PAUSED
    assert rollout.reason.startswith("error budget freeze: availability has -")
    assert "of its error budget left, below the floor 25%" in rollout.reason
    assert f"rollsafe rollout override {rollout_id}" in rollout.reason
    assert rig.step_states(rollout_id) == [StepState.PENDING, StepState.PENDING]
    assert rig.target.current_release() == "1.0.0"
    checked = rig.journaled(rollout_id, "slo.budget_checked")
    # 1 - 10% / 1% = -9, give or take rate()'s extrapolation to the ends of its range.
    assert -9.5 < checked[0]["budgets"][0]["remaining"] < -7.5
    assert checked[0]["floor"] == 0.25
    assert rig.journaled(rollout_id, "slo.budget_frozen")[0]["below_floor"] == ["availability"]

    # Resuming is not overriding: still frozen, nothing ran.
    again = rig.controller().run(rollout_id, resume=True)
    assert again.state is RolloutState.PAUSED
    assert len(rig.journaled(rollout_id, "slo.budget_frozen")) == 2

    controller = rig.controller()
    override(controller.store, rollout_id, actor="alice", reason="hotfix for the outage")
    done = controller.run(rollout_id, resume=True)

    assert done.state is RolloutState.PROMOTED
    assert rig.target.current_release() == "1.1.0"
    entries = [e for e in rig.stores[-1].journal(rollout_id) if e.kind == "slo.budget_override"]
    assert [(e.actor, e.data["reason"]) for e in entries] == [("alice", "hotfix for the outage")]
    assert len(rig.journaled(rollout_id, "slo.budget_checked")) == 2  # not read after it


@pytest.mark.slow
def test_a_service_with_budget_left_starts(rig: Rig, budgets: Budgets) -> None:
    rollout_id = create(rig, slos(budgets.url, "healthy"))

    rollout = rig.controller().run(rollout_id)

    assert rollout.state is RolloutState.PROMOTED
    checked = rig.journaled(rollout_id, "slo.budget_checked")
    assert checked[0]["budgets"][0]["remaining"] == 1.0
    assert rig.journaled(rollout_id, "slo.budget_frozen") == []


def test_an_unreadable_budget_waits_and_abort_still_rolls_back(rig: Rig) -> None:
    # Nothing listens on the port: the budget is unknown, and on_unknown: wait freezes.
    rollout_id = create(rig, slos(f"http://127.0.0.1:{unused_port()}", "x"))
    controller = rig.controller()
    rollout = controller.run(rollout_id)
    assert rollout.state is RolloutState.PAUSED
    assert "error budget is unknown" in rollout.reason
    assert rig.journaled(rollout_id, "slo.budget_frozen")[0]["unknown"] == ["availability"]
    checked = next(e for e in rig.stores[-1].journal(rollout_id) if e.kind == "slo.budget_checked")
    assert describe(checked) == "  error budget left: availability unknown (floor 25%)"

    # Aborting reads no budget: rollbacks are never blocked.
    aborted = rig.controller().abort(rollout_id)
    assert aborted.state is RolloutState.ABORTED
    assert len(rig.journaled(rollout_id, "slo.budget_checked")) == 1


def test_on_unknown_start_lets_it_start(rig: Rig) -> None:
    section = slos(f"http://127.0.0.1:{unused_port()}", "x", on_unknown="start")
    rollout_id = create(rig, section)
    assert rig.controller().run(rollout_id).state is RolloutState.PROMOTED


def test_the_cli_override_journals_its_actor(rig: Rig) -> None:
    rollout_id = create(rig, slos(f"http://127.0.0.1:{unused_port()}", "x"))
    assert rig.controller().run(rollout_id).state is RolloutState.PAUSED
    store = str(rig.root / "rollsafe.db")
    home = str(rig.root / "home")
    result = CliRunner().invoke(
        app,
        ["--home", home, "--store", store, "rollout", "override", rollout_id,
         "--reason", "approved by the SRE on call", "--actor", "bob", "--no-resume", "--json"],
    )  # fmt: skip
    assert result.exit_code == 4, result.output
    assert json.loads(result.output)["overridden_by"] == "bob"
    entries = [e for e in rig.stores[-1].journal(rollout_id) if e.kind == "slo.budget_override"]
    assert [(e.actor, e.data["reason"]) for e in entries] == [
        ("bob", "approved by the SRE on call")
    ]

    refused = CliRunner().invoke(
        app, ["--home", home, "--store", store, "rollout", "override", "ro-nope", "--reason", "x"]
    )
    assert refused.exit_code == 1


@pytest.mark.slow
def test_slo_budget_shows_what_the_policy_reads(tmp_path: Path, budgets: Budgets) -> None:
    for job, code in (("burning", 1), ("healthy", 0)):
        path = tmp_path / f"{job}.yaml"
        section = slos(budgets.url, job).removeprefix("slos:\n")
        path.write_text("version: 1\nservice: shop\n" + textwrap.dedent(section))
        result = CliRunner().invoke(app, ["slo", "budget", str(path), "--json"])
        assert result.exit_code == code, result.output
        report = json.loads(result.output)
        assert report["frozen"] is bool(code)
        remaining = report["budgets"][0]["remaining"]
        assert remaining < -7 if code else remaining == 1.0
