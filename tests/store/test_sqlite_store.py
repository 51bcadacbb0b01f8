"""The SQLite store: migrations, optimistic flag versions, leases, rollout state."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rollsafe.errors import ConflictError, NotFoundError, StoreError
from rollsafe.store import RolloutState, SqliteStore, StepState
from rollsafe.store.sqlite import SCHEMA_VERSION


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "rollsafe.db")
    yield store
    store.close()


def new_rollout(store: SqliteStore) -> str:
    rollout = store.create_rollout(
        service="shop",
        plan_path="/p/plan.yaml",
        plan_text="version: 1",
        steps=[("deploy", {"release": "1.1.0"}), ("promote", {})],
        actor="test",
    )
    return rollout.id


def test_schema_is_migrated_and_wal_enabled(store: SqliteStore) -> None:
    connection = sqlite3.connect(store.path)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rollsafe.db"
    SqliteStore(path).close()
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(StoreError, match="newer than this rollsafe"):
        SqliteStore(path)


def test_reopening_keeps_state(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "rollsafe.db")
    rollout_id = new_rollout(first)
    first.close()
    second = SqliteStore(tmp_path / "rollsafe.db")
    assert second.get_rollout(rollout_id).state is RolloutState.PENDING
    assert [s.kind for s in second.steps(rollout_id)] == ["deploy", "promote"]
    second.close()


def test_stale_flag_version_is_a_conflict_and_changes_nothing(store: SqliteStore) -> None:
    first = store.put_flag("f", {"name": "f", "enabled": False}, actor="a")
    store.put_flag("f", {"name": "f", "enabled": True}, actor="b", expected_version=first.version)
    with pytest.raises(ConflictError, match="version 2, not 1"):
        store.put_flag("f", {"name": "f", "enabled": False}, actor="c", expected_version=1)
    flag = store.get_flag("f")
    assert (flag.version, flag.definition["enabled"], flag.updated_by) == (2, True, "b")
    assert store.flags_revision() == 2


def test_step_and_rollout_transitions_are_journaled(store: SqliteStore) -> None:
    rollout_id = new_rollout(store)
    store.set_rollout_state(rollout_id, RolloutState.RUNNING, actor="c")
    store.set_step_state(rollout_id, 0, StepState.RUNNING, actor="c")
    store.set_step_state(rollout_id, 0, StepState.SUCCEEDED, result={"changed": True}, actor="c")
    step = store.steps(rollout_id)[0]
    assert (step.state, step.attempts, step.result) == (StepState.SUCCEEDED, 1, {"changed": True})
    kinds = [e.kind for e in store.journal(rollout_id)]
    assert kinds == ["rollout.created", "rollout.running", "step.running", "step.succeeded"]


def test_expected_state_guards_transitions(store: SqliteStore) -> None:
    rollout_id = new_rollout(store)
    with pytest.raises(ConflictError, match="is pending"):
        store.set_rollout_state(
            rollout_id, RolloutState.RUNNING, actor="c", expected={RolloutState.PAUSED}
        )
    assert store.get_rollout(rollout_id).state is RolloutState.PENDING


def test_lease_is_exclusive_until_it_expires_or_is_taken_over_from_its_owner(
    store: SqliteStore,
) -> None:
    rollout_id = new_rollout(store)
    assert store.acquire_lease(rollout_id, "host:1", ttl=60)
    assert not store.acquire_lease(rollout_id, "host:2", ttl=60)
    assert store.acquire_lease(rollout_id, "host:1", ttl=60)  # renewal
    assert not store.acquire_lease(rollout_id, "host:2", ttl=60, take_over_from="host:9")
    assert store.acquire_lease(rollout_id, "host:2", ttl=60, take_over_from="host:1")
    # host:3 knew host:1 had died too, but host:2 took over first: no double ownership.
    assert not store.acquire_lease(rollout_id, "host:3", ttl=60, take_over_from="host:1")
    store.release_lease(rollout_id, "host:2")
    assert store.acquire_lease(rollout_id, "host:3", ttl=0.0)
    assert store.acquire_lease(rollout_id, "host:4", ttl=60)  # host:3's lease had expired


def test_unknown_ids(store: SqliteStore) -> None:
    with pytest.raises(NotFoundError):
        store.get_rollout("ro-nope")
    with pytest.raises(NotFoundError):
        store.get_flag("nope")
