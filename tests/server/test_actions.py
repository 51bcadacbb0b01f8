"""The server's rollout actions on fakes: what each leaves in the store for a controller,
and that a controller then does what the person asked. No process, no socket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rollsafe.errors import ConflictError
from rollsafe.journal.kinds import Kind
from rollsafe.server import actions
from rollsafe.store import RolloutState
from tests.controller.rig import Rig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    try:
        yield rig
    finally:
        rig.close()


def paused(rig: Rig) -> str:
    controller, rollout_id = rig.create(["deploy", "flag", "pause: {}", "promote"])
    assert controller.run(rollout_id).state is RolloutState.PAUSED
    return rollout_id


def test_resume_leaves_a_running_rollout_that_a_controller_finishes(rig: Rig) -> None:
    rollout_id = paused(rig)
    store = rig.stores[-1]

    said = actions.act(store, rollout_id, "resume", actor="token ops")

    assert "resumed" in said
    rollout = store.get_rollout(rollout_id)
    assert rollout.state is RolloutState.RUNNING
    assert rollout.owner is None  # claimable by `rollsafe controller run`
    assert rig.controller().run(rollout_id).state is RolloutState.PROMOTED
    resumed = [e for e in store.journal(rollout_id) if e.kind == Kind.ROLLOUT_RUNNING][-1]
    assert resumed.actor == "token ops"


def test_abort_of_a_paused_rollout_is_rolled_back_by_the_next_controller(rig: Rig) -> None:
    rollout_id = paused(rig)
    store = rig.stores[-1]

    actions.act(store, rollout_id, "abort", actor="token ops")

    assert store.get_rollout(rollout_id).state is RolloutState.ROLLING_BACK
    assert rig.controller().run(rollout_id).state is RolloutState.ABORTED
    assert rig.flag_rollout()["enabled"] is False
    asked = [e.actor for e in store.journal(rollout_id) if e.kind == Kind.ROLLOUT_ABORT_REQUESTED]
    assert asked == ["token ops"]


@pytest.mark.parametrize("action", ["pause", "abort", "resume", "approve"])
def test_a_final_rollout_refuses_every_action_and_changes_nothing(rig: Rig, action: str) -> None:
    controller, rollout_id = rig.create(["deploy", "promote"])
    assert controller.run(rollout_id).state is RolloutState.PROMOTED
    store = rig.stores[-1]
    before = len(store.journal(rollout_id))

    with pytest.raises(ConflictError):
        actions.act(store, rollout_id, action, actor="token ops")

    assert len(store.journal(rollout_id)) == before


def test_the_kill_switch_is_idempotent(rig: Rig) -> None:
    controller, rollout_id = rig.create(["deploy", "flag", "promote"])
    controller.run(rollout_id)
    store = rig.stores[-1]

    record, changed = actions.kill_flag(store, "checkout", "default", actor="token ops")
    again, changed_again = actions.kill_flag(store, "checkout", "default", actor="token ops")

    assert changed
    assert not changed_again
    assert record.definition["enabled"] is False
    assert again.version == record.version
