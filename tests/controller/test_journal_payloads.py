"""The rollback and backup entries the report and demo read back have their TypedDicts' keys.

`rollsafe.journal.payloads` only describes the entries (a cast); this runs the
real ladder on fakes and holds the description to what is journaled.
"""

from __future__ import annotations

import pytest

from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import (
    BackupCreated,
    BackupDeleted,
    LevelEnded,
    RollbackFinished,
    RollbackStarted,
    backup_created,
    backup_deleted,
    level_ended,
    levels_ended,
    rollback_finished,
    rollback_started,
)
from rollsafe.store import RolloutState
from tests.controller.rig import Rig
from tests.controller.test_rollback_ladder import STEPS, bad_deploy


def test_the_ladder_journals_exactly_the_typed_keys(rig: Rig) -> None:
    controller, rollout_id = rig.create(STEPS)
    bad_deploy(rig, "1.1.0", "1.0.0", rollout_id=rollout_id)  # nothing recovers: all 3 levels

    assert controller.run(rollout_id).state is RolloutState.FAILED

    entries = rig.stores[-1].journal(rollout_id)
    started = rollback_started(entries)
    assert started is not None
    assert set(started) == set(RollbackStarted.__annotations__)
    assert started["levels"] == ["flags", "release", "restore"]
    assert started["undo"] is False
    assert "1.1.0 is bad" in started["reason"]
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
    ended = [e for e in entries if e.kind == Kind.ROLLBACK_LEVEL_ENDED]
    assert [level_ended(e) for e in ended] == raw
    finished = rollback_finished(entries)
    assert finished is not None
    assert (finished["ok"], finished["final_level"]) == (True, 2)
    assert rollback_finished(entries[:1]) is None
    assert rollback_started(entries[:1]) is None
    with pytest.raises(ValueError, match=r"is rollout\.created, not rollback\.level_ended"):
        level_ended(entries[0])


def test_backups_created_and_deleted_journal_exactly_the_typed_keys(rig: Rig) -> None:
    controller, rollout_id = rig.create(STEPS)  # its backup step backs up the uploads
    assert controller.run(rollout_id).state is RolloutState.PROMOTED
    store = rig.stores[-1]
    [backup] = store.list_backups()

    store.delete_backup(backup.id, actor="test", reason="expired")

    entries = store.journal()
    [created] = [e for e in entries if e.kind == Kind.BACKUP_CREATED]
    [deleted] = [e for e in entries if e.kind == Kind.BACKUP_DELETED]
    assert set(created.data) == set(BackupCreated.__annotations__)
    assert set(deleted.data) == set(BackupDeleted.__annotations__)
    assert backup_created(created) == {
        "id": backup.id,
        "source": "uploads",
        "sha256": backup.sha256,
    }
    assert backup_deleted(deleted) == {"id": backup.id, "source": "uploads", "reason": "expired"}
    with pytest.raises(ValueError, match=r"is backup\.created, not backup\.deleted"):
        backup_deleted(created)
