"""Blindness without processes to start: the tracker, an analysis that never sees, the report."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rollsafe.config import Plan
from rollsafe.controller.analysis import run_analysis
from rollsafe.controller.blindness import Blindness
from rollsafe.controller.context import StepContext
from rollsafe.report.incident import build_incident, render_markdown
from rollsafe.store import SqliteStore


def test_blindness_is_reported_once_per_outage_after_its_delay() -> None:
    blindness = Blindness("guards", after=2.0, action="pause")
    assert [blindness.missed(t) for t in (1.0, 2.0, 3.0, 4.0)] == [False, False, True, False]
    assert blindness.entry(4.0, "HTTP 404")["blind_for"] == 3.0
    blindness.saw()
    assert [blindness.missed(t) for t in (5.0, 6.0, 7.0)] == [False, False, True]
    blindness.saw()
    assert blindness.missed(8.0, final=True)  # a watcher ending with no data says so at once


class NoInstances:
    """The two things a metric source may ask of a target."""

    def endpoints(self) -> list[str]:
        return []

    def current_release(self) -> str | None:
        return "1.0.0"


def analyse(tmp_path: Path, on_blind: str | None) -> tuple[str, dict[str, object], list[str]]:
    failing = [sys.executable, "-c", "import sys; sys.exit('backend down')", "{arm}"]
    plan = Plan.model_validate(
        {
            "version": 1,
            "service": "shop",
            "target": {"root": str(tmp_path), "command": ["run"]},
            "metrics": {"provider": "command", "argv": failing},
            "analysis": {"interval": "200ms"},  # blind_after stays 30 s: longer than the step
            "steps": [{"analysis": {"duration": "1s", "on_blind": on_blind}}],
        }
    )
    store = SqliteStore(tmp_path / "rollsafe.db")
    try:
        rollout = store.create_rollout(
            service="shop", plan_path="plan.yaml", plan_text="", steps=[], actor="test"
        )
        target = NoInstances()
        context = StepContext(store, rollout.id, plan, target, tmp_path, "test")  # type: ignore[arg-type]
        spec = plan.steps[0].analysis
        assert spec is not None
        outcome = run_analysis(context, spec)
        kinds = [entry.kind for entry in store.journal(rollout.id)]
    finally:
        store.close()
    return outcome.status, {"rerun": outcome.rerun_on_resume, **outcome.result}, kinds


@pytest.mark.parametrize(("on_blind", "status"), [(None, "paused"), ("rollback", "failed")])
def test_an_analysis_that_never_saw_anything_is_blind_at_its_end(
    tmp_path: Path, on_blind: str | None, status: str
) -> None:
    got, result, kinds = analyse(tmp_path, on_blind)
    assert got == status
    assert result["rerun"] is (status == "paused")  # resumed, it analyses again
    blind = result["blind"]
    assert isinstance(blind, dict)
    assert blind["watcher"] == "analysis"
    assert "exited with 1: backend down" in blind["error"]
    assert kinds.count("metrics.blind") == 1
    assert kinds.count("analysis.metrics_error") >= 3
    assert "analysis.verdict" not in kinds  # no data, no verdict


def test_the_report_says_when_metrics_were_there_and_when_they_were_not(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "rollsafe.db")
    try:
        store.append("rollout.created", {"service": "shop", "steps": []}, actor="t", rollout_id="r")
        seeing = build_incident(store.journal("r"))
        store.append("guard.metrics_unavailable", {"t": 1, "error": "HTTP 404"}, actor="t",
                     rollout_id="r")  # fmt: skip
        blind = {"watcher": "guards", "t": 3, "since": 1, "blind_for": 2, "error": "HTTP 404",
                 "action": "rollback"}  # fmt: skip
        store.append("metrics.blind", blind, actor="t", rollout_id="r")
        store.append("rollout.rolled_back", {}, actor="t", rollout_id="r")
        blinded = build_incident(store.journal("r"))
    finally:
        store.close()
    assert "- Guards and analyses had metrics throughout." in render_markdown(seeing)
    markdown = render_markdown(blinded)
    assert "the guards lost their metrics 1 time(s); first error: HTTP 404" in markdown
    assert "guards blind for 2 s (HTTP 404); on_blind: rollback" in markdown
    assert blinded["trigger"]["source"] == "guards"
    assert blinded["trigger"]["name"] == "on_blind"
    assert "| metrics.blind | guards blind 2 s: HTTP 404 |" in markdown
