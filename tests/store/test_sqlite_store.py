"""The store, on SQLite and on PostgreSQL: migrations, optimistic flag versions, leases, state."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rollsafe.errors import ConflictError, NotFoundError, StoreError
from rollsafe.store import RolloutState, SqliteStore, StepState, Store
from tests.store.backends import Backend


def new_rollout(store: Store) -> str:
    rollout = store.create_rollout(
        service="shop",
        plan_path="/p/plan.yaml",
        plan_text="version: 1",
        steps=[("deploy", {"release": "1.1.0"}), ("promote", {})],
        actor="test",
    )
    return rollout.id


def test_schema_is_migrated(backend: Backend, store: Store) -> None:
    assert backend.stored_schema_version() == backend.schema_version


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "rollsafe.db").close()
    connection = sqlite3.connect(tmp_path / "rollsafe.db")
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()


def test_a_newer_schema_is_refused(backend: Backend) -> None:
    backend.open().close()
    backend.set_schema_version(backend.schema_version + 1)
    with pytest.raises(StoreError, match="newer than this rollsafe"):
        backend.open()


def test_migrating_again_is_a_no_op(backend: Backend) -> None:
    first = backend.open()
    rollout_id = new_rollout(first)
    second = backend.open()
    assert backend.stored_schema_version() == backend.schema_version
    assert second.get_rollout(rollout_id).service == "shop"


def test_reopening_keeps_state(backend: Backend) -> None:
    first = backend.open()
    rollout_id = new_rollout(first)
    first.close()
    second = backend.open()
    assert second.get_rollout(rollout_id).state is RolloutState.PENDING
    assert [s.kind for s in second.steps(rollout_id)] == ["deploy", "promote"]
    second.close()


def test_stale_flag_version_is_a_conflict_and_changes_nothing(store: Store) -> None:
    first = store.put_flag("f", {"name": "f", "enabled": False}, actor="a")
    store.put_flag("f", {"name": "f", "enabled": True}, actor="b", expected_version=first.version)
    with pytest.raises(ConflictError, match="version 2, not 1"):
        store.put_flag("f", {"name": "f", "enabled": False}, actor="c", expected_version=1)
    flag = store.get_flag("f")
    assert (flag.version, flag.definition["enabled"], flag.updated_by) == (2, True, "b")
    assert store.flags_revision() == 2


def test_step_and_rollout_transitions_are_journaled(store: Store) -> None:
    rollout_id = new_rollout(store)
    store.set_rollout_state(rollout_id, RolloutState.RUNNING, actor="c")
    store.set_step_state(rollout_id, 0, StepState.RUNNING, actor="c")
    store.set_step_state(rollout_id, 0, StepState.SUCCEEDED, result={"changed": True}, actor="c")
    step = store.steps(rollout_id)[0]
    assert (step.state, step.attempts, step.result) == (StepState.SUCCEEDED, 1, {"changed": True})
    kinds = [e.kind for e in store.journal(rollout_id)]
    assert kinds == ["rollout.created", "rollout.running", "step.running", "step.succeeded"]


def test_expected_state_guards_transitions(store: Store) -> None:
    rollout_id = new_rollout(store)
    with pytest.raises(ConflictError, match="is pending"):
        store.set_rollout_state(
            rollout_id, RolloutState.RUNNING, actor="c", expected={RolloutState.PAUSED}
        )
    assert store.get_rollout(rollout_id).state is RolloutState.PENDING


def test_lease_is_exclusive_until_it_expires_or_is_taken_over_from_its_owner(
    store: Store,
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


def test_unknown_ids(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.get_rollout("ro-nope")
    with pytest.raises(NotFoundError):
        store.get_flag("nope")
