"""Pipelines end to end: a release promoted through dev → staging → production, a broken
one stopped at staging with that stage rolled back, approval, and a SIGKILL mid-run.

Real command targets (deploys are shell commands writing each stage's own state),
real SQLite stores per stage, the real controller; health checks hit a loopback
endpoint (tests/endpoints.py).
"""

from __future__ import annotations

import fcntl
import json
import signal
import time
from pathlib import Path

import pytest

from rollsafe.controller import Controller
from rollsafe.journal.kinds import Kind
from rollsafe.store import RolloutState, open_store_url
from tests.pipeline.rig import PipelineRig


@pytest.fixture
def rig(tmp_path: Path, healthy_endpoint: str) -> PipelineRig:
    rig = PipelineRig(tmp_path)
    rig.write(healthy_endpoint)
    return rig


def kinds(rig: PipelineRig) -> list[tuple[str, dict[str, object]]]:
    store = rig.store()
    try:
        return [(e.kind, e.data) for e in store.journal() if e.kind.startswith("pipeline.")]
    finally:
        store.close()


def test_a_good_release_goes_through_every_stage_and_a_broken_one_stops_at_staging(
    rig: PipelineRig,
) -> None:
    first = rig.run("1.0.0")
    assert first["state"] == "promoted", first
    assert [s["state"] for s in first["stages"]] == ["passed"] * 3
    good = rig.run("2.0.0")
    assert good["state"] == "promoted", good
    assert {stage: rig.live(stage) for stage in ("dev", "staging", "production")} == {
        "dev": "2.0.0",
        "staging": "2.0.0",
        "production": "2.0.0",
    }

    rig.break_release("3.0.0")
    bad = rig.run("3.0.0")

    assert bad["state"] == "stopped"
    states = {s["name"]: s["state"] for s in bad["stages"]}
    assert states["dev"] == "passed"  # dev has no smoke test: it let the release through
    assert states["staging"].startswith("rolled back (rolled_back)")
    assert states["production"] == "pending"
    assert "staging failed gate 0 (command)" in bad["reason"]
    assert rig.live("dev") == "3.0.0"
    assert rig.live("staging") == "2.0.0"  # rolled back to the release before
    assert rig.live("production") == "2.0.0"  # never touched
    journal = kinds(rig)
    run = bad["run"]
    mine = [(kind, data) for kind, data in journal if data["run"] == run]
    gate = next(data for kind, data in mine if kind == Kind.PIPELINE_GATE)
    assert gate["passed"] is False
    assert gate["exit_code"] == 1
    assert [kind for kind, _ in mine][-2:] == [
        Kind.PIPELINE_STAGE_ROLLED_BACK,
        Kind.PIPELINE_FINISHED,
    ]
    production = open_store_url(str(rig.root / "production.db"))
    try:  # the stage's own store, named in the pipeline file: two rollouts, both promoted
        assert [r.state for r in production.list_rollouts()] == [RolloutState.PROMOTED] * 2
    finally:
        production.close()


def test_an_approval_gate_waits_for_a_person(rig: PipelineRig, healthy_endpoint: str) -> None:
    rig.write(healthy_endpoint, dev_soak="500ms", more="    gates: [{approval: }]\n")
    waiting = rig.run("1.0.0")
    assert waiting["state"] == "awaiting approval at production"
    assert waiting["stages"][2]["state"] == "awaiting approval"
    assert rig.run("1.0.0")["stages"][2]["state"] == "awaiting approval"  # still no one
    store = rig.store()
    try:
        rig.runner(store, "1.0.0").approve("production")
    finally:
        store.close()
    done = rig.run("1.0.0")
    assert done["state"] == "promoted"
    started = [d for k, d in kinds(rig) if k == Kind.PIPELINE_STARTED]
    assert [d["resumed"] for d in started] == [False, True, True]
    assert len({d["run"] for d in started}) == 1
    rollouts = [d for k, d in kinds(rig) if k == Kind.PIPELINE_STAGE_ROLLOUT]
    assert [d["stage"] for d in rollouts] == ["dev", "staging", "production"]  # none twice


@pytest.mark.slow
def test_a_pipeline_killed_mid_stage_resumes_where_it_was(
    rig: PipelineRig, healthy_endpoint: str
) -> None:
    rig.write(healthy_endpoint, staging_pause="3s")
    process = rig.cli("run", str(rig.file), "--release", "1.0.0")
    try:
        deadline = time.monotonic() + 60
        while not any(
            k == Kind.PIPELINE_STAGE_ROLLOUT and d["stage"] == "staging"
            for k, d in (kinds(rig) if (rig.home / "rollsafe.db").exists() else [])
        ):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "staging never started"
            time.sleep(0.1)
        time.sleep(0.5)  # inside staging's pause step
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.communicate()

    resumed = rig.cli("run", str(rig.file), "--release", "1.0.0", "--json")
    out, err = resumed.communicate(timeout=120)

    assert resumed.returncode == 0, err
    report = json.loads(out)
    assert report["state"] == "promoted"
    journal = kinds(rig)
    rollouts = [d["stage"] for k, d in journal if k == Kind.PIPELINE_STAGE_ROLLOUT]
    assert rollouts == ["dev", "staging", "production"]  # staging's rollout driven on, not redone
    assert [d["resumed"] for k, d in journal if k == Kind.PIPELINE_STARTED] == [False, True]
    staging = open_store_url(str(rig.root / ".rollsafe-staging" / "rollsafe.db"))
    try:
        (rollout,) = staging.list_rollouts()
        assert rollout.state is RolloutState.PROMOTED
        taken_over = [
            e for e in staging.journal(rollout.id) if e.kind == Kind.ROLLOUT_LEASE_ACQUIRED
        ]
        assert len(taken_over) == 2  # the killed runner's lease, then the new one's
    finally:
        staging.close()
    status = rig.cli("status", str(rig.file), "--release", "1.0.0", "--json")
    out, _ = status.communicate(timeout=60)
    assert status.returncode == 0
    assert [s["state"] for s in json.loads(out)["stages"]] == ["passed"] * 3


def test_a_stage_whose_rollout_fails_stops_the_pipeline_there(rig: PipelineRig) -> None:
    assert rig.run("1.0.0")["state"] == "promoted"
    rig.break_release("2.0.0", "undeployable")

    stopped = rig.run("2.0.0")

    assert stopped["state"] == "stopped"
    assert stopped["reason"].startswith("stage dev ended rolled_back")
    assert [s["state"] for s in stopped["stages"]] == ["rolled_back", "pending", "pending"]
    assert {stage: rig.live(stage) for stage in ("dev", "staging", "production")} == {
        "dev": "1.0.0",
        "staging": "1.0.0",
        "production": "1.0.0",
    }


def test_a_second_runner_is_refused_while_one_runs(rig: PipelineRig) -> None:
    rig.home.mkdir()
    with (rig.home / "pipeline-shop.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        second = rig.cli("run", str(rig.file), "--release", "1.0.0")
        _, err = second.communicate(timeout=60)
    assert second.returncode == 1
    assert "pipeline shop is being run by another process" in err
    assert not any(k == Kind.PIPELINE_STARTED for k, _ in kinds(rig))


def test_a_paused_stage_waits_until_its_rollout_is_resumed_by_hand(
    rig: PipelineRig, healthy_endpoint: str
) -> None:
    rig.write(healthy_endpoint)
    text = rig.file.read_text().replace("{pause: {duration: 0s}}", "{pause: }")
    rig.file.write_text(text)

    first = rig.run("1.0.0")
    again = rig.run("1.0.0")  # the pipeline does not resume a person's pause for them

    assert first["state"] == again["state"] == "paused at staging"
    staging = open_store_url(str(rig.root / ".rollsafe-staging" / "rollsafe.db"))
    try:  # `rollsafe rollout resume` in the stage's home
        (rollout,) = staging.list_rollouts()
        resumed = Controller(staging, rig.root / ".rollsafe-staging").run(rollout.id, resume=True)
        assert resumed.state is RolloutState.PROMOTED
    finally:
        staging.close()
    done = rig.run("1.0.0")
    assert done["state"] == "promoted"
    assert [s["state"] for s in done["stages"]] == ["passed"] * 3
