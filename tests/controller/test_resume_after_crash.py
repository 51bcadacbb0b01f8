"""A controller killed with SIGKILL mid-plan is replaced by ``resume``; each step applies once."""

from __future__ import annotations

import signal
import time
from collections import Counter

import httpx
import pytest

from rollsafe.store import RolloutState, SqliteStore, StepState
from tests.controller.conftest import STEPS, Shop, with_steps

pytestmark = pytest.mark.slow


def wait_for_step(shop: Shop, kind: str, index: int, timeout: float = 120) -> str:
    """Wait until the journal shows step ``index`` running; return the rollout id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (shop.home / "rollsafe.db").exists():
            store = SqliteStore(shop.home / "rollsafe.db")
            try:
                for entry in store.journal():
                    data = entry.data
                    if entry.kind == "step.running" and (data["index"], data["kind"]) == (
                        index,
                        kind,
                    ):
                        assert entry.rollout_id is not None
                        return entry.rollout_id
            finally:
                store.close()
        time.sleep(0.05)
    store = SqliteStore(shop.home / "rollsafe.db")
    try:
        seen = [f"{e.kind} {e.data.get('index', '')}" for e in store.journal()][-15:]
    finally:
        store.close()
    raise AssertionError(f"step {index} ({kind}) never started; the journal ends with {seen}")


@pytest.mark.parametrize(("kill_at_index", "kill_at_kind"), [(3, "pause"), (1, "deploy")])
def test_sigkill_then_resume_applies_every_step_once(
    shop: Shop, kill_at_index: int, kill_at_kind: str
) -> None:
    controller = shop.start_rollsafe("rollout", "start", str(shop.plan_path))
    rollout_id = wait_for_step(shop, kill_at_kind, kill_at_index)
    controller.send_signal(signal.SIGKILL)
    controller.communicate(timeout=10)

    store = SqliteStore(shop.home / "rollsafe.db")
    assert store.get_rollout(rollout_id).state is RolloutState.RUNNING
    store.close()

    resumed = shop.rollsafe("rollout", "resume", rollout_id, "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    store = SqliteStore(shop.home / "rollsafe.db")
    try:
        assert store.get_rollout(rollout_id).state is RolloutState.PROMOTED
        steps = store.steps(rollout_id)
        assert all(step.state is StepState.SUCCEEDED for step in steps)
        journal = store.journal(rollout_id)
        succeeded = Counter(e.data["index"] for e in journal if e.kind == "step.succeeded")
        assert succeeded == Counter(range(len(steps)))  # each step finished exactly once
        flag_writes = [
            e.data["after"]["strategies"][0]["parameters"]["rollout"]
            for e in journal
            if e.kind == "flag.changed" and e.data["after"]["enabled"]
        ]
        assert flag_writes == ["10", "50", "100"]  # each flag change applied once, in order
        backups = store.list_backups()
        assert [b.source for b in backups] == ["orders"]
        assert sum(e.kind == "rollout.lease_acquired" for e in journal) == 2
        assert store.verify_journal().ok
    finally:
        store.close()

    assert shop.target.current_release() == "1.1.0"
    instances = shop.target.instances()
    assert [i.release for i in instances] == ["1.1.0", "1.1.0"]
    for instance in instances:
        assert httpx.get(f"{instance.url}/health", timeout=2).json()["release"] == "1.1.0"


def with_long_first_pause(shop: Shop, seconds: int) -> None:
    """The plan with its first pause (step 3) lasting ``seconds``: long enough that the
    ``rollout pause|abort`` CLI, started once that step runs, lands inside it even on a
    starved machine (with 2 s, a CLI that took longer to start found the rollout promoted)."""
    steps = STEPS.replace("pause: {duration: 2s}", f"pause: {{duration: {seconds}s}}", 1)
    shop.plan_path.write_text(with_steps(shop.plan_path.read_text(), steps))


def test_pause_and_resume_by_request(shop: Shop) -> None:
    with_long_first_pause(shop, 15)  # run again in full after the resume: kept short
    controller = shop.start_rollsafe("rollout", "start", str(shop.plan_path))
    rollout_id = wait_for_step(shop, "pause", 3)
    assert shop.rollsafe("rollout", "pause", rollout_id).returncode == 0
    out, err = controller.communicate(timeout=30)
    assert controller.returncode == 4, out + err  # paused (docs/cli.md)
    status = shop.rollsafe("rollout", "status", rollout_id, "--json")
    assert '"state": "paused"' in status.stdout

    resumed = shop.rollsafe("rollout", "resume", rollout_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    store = SqliteStore(shop.home / "rollsafe.db")
    try:
        assert store.get_rollout(rollout_id).state is RolloutState.PROMOTED
        journal = store.journal(rollout_id)
        kinds = [e.kind for e in journal]
        assert kinds.count("rollout.paused") == 1
        assert kinds.index("rollout.paused") < kinds.index("rollout.promoted")
        # The pause lands either inside the 15 s pause step (cut short, run again after
        # resume) or just after it (the run stops before the next step): never lost.
        succeeded = Counter(e.data["index"] for e in journal if e.kind == "step.succeeded")
        assert succeeded == Counter(range(len(store.steps(rollout_id))))
    finally:
        store.close()


def test_abort_rolls_back_flags_and_release(shop: Shop) -> None:
    with_long_first_pause(shop, 120)  # the abort cuts it short: costs nothing
    controller = shop.start_rollsafe("rollout", "start", str(shop.plan_path))
    rollout_id = wait_for_step(shop, "pause", 3)
    aborted = shop.rollsafe("rollout", "abort", rollout_id)
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr
    out, err = controller.communicate(timeout=60)
    assert controller.returncode == 3, out + err  # rolled back (aborted), not promoted

    store = SqliteStore(shop.home / "rollsafe.db")
    try:
        assert store.get_rollout(rollout_id).state is RolloutState.ABORTED
        assert store.get_flag("fast-checkout").definition["enabled"] is False
    finally:
        store.close()
    assert shop.target.current_release() == "1.0.0"
    assert {i.release for i in shop.target.instances()} == {"1.0.0"}


def test_rollback_by_hand_after_promotion(shop: Shop) -> None:
    started = shop.rollsafe("rollout", "start", str(shop.plan_path), "--json")
    assert started.returncode == 0, started.stdout + started.stderr
    assert shop.target.current_release() == "1.1.0"

    result = shop.rollsafe("rollback", "--level", "2")
    assert result.returncode == 0, result.stdout + result.stderr  # the rollback asked for
    store = SqliteStore(shop.home / "rollsafe.db")
    try:
        (rollout,) = store.list_rollouts()
        assert rollout.state is RolloutState.ROLLED_BACK
        assert "by hand" in rollout.reason
        levels = [e.data for e in store.journal(rollout.id) if e.kind == "rollback.level_ended"]
        assert [(lvl["level"], lvl["applied"]) for lvl in levels] == [(1, True), (2, True)]
        assert store.get_flag("fast-checkout").definition["enabled"] is False
    finally:
        store.close()
    assert shop.target.current_release() == "1.0.0"
    assert (shop.home / "reports" / rollout.id / "incident.md").exists()
