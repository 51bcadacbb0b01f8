"""The rollback entries the report and demo read back have the keys their TypedDicts name.

`rollsafe.journal.payloads` only describes the entries (a cast); this runs the
real ladder on fakes and holds the description to what is journaled.
"""

from __future__ import annotations

from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import (
    LevelEnded,
    RollbackFinished,
    levels_ended,
    rollback_finished,
)
from rollsafe.store import RolloutState
from tests.controller.rig import Rig
from tests.controller.test_rollback_ladder import STEPS, bad_deploy


def test_the_ladder_journals_exactly_the_typed_keys(rig: Rig) -> None:
    controller, rollout_id = rig.create(STEPS)
    bad_deploy(rig, "1.1.0", "1.0.0", rollout_id=rollout_id)  # nothing recovers: all 3 levels

    assert controller.run(rollout_id).state is RolloutState.FAILED

    entries = rig.stores[-1].journal(rollout_id)
    levels = levels_ended(entries)
    assert [level["level"] for level in levels] == [1, 2, 3]
    for level in levels:
        assert set(level) == set(LevelEnded.__annotations__)
    finished = rollback_finished(entries)
    assert finished is not None
    assert set(finished) == set(RollbackFinished.__annotations__)
    assert finished["levels"] == levels
    assert (finished["ok"], finished["final_level"], finished["recovered_by"]) == (
        False,
        None,
        None,
    )


def test_the_readers_return_copies_in_journal_order(rig: Rig) -> None:
    controller, rollout_id = rig.create(STEPS)
    bad_deploy(rig, "1.1.0", rollout_id=rollout_id)  # level 2 recovers

    controller.run(rollout_id)

    entries = rig.stores[-1].journal(rollout_id)
    raw = [e.data for e in entries if e.kind == Kind.ROLLBACK_LEVEL_ENDED]
    levels = levels_ended(entries)
    assert levels == raw
    assert all(copy is not data for copy, data in zip(levels, raw, strict=True))
    finished = rollback_finished(entries)
    assert finished is not None
    assert (finished["ok"], finished["final_level"]) == (True, 2)
    assert rollback_finished(entries[:1]) is None
