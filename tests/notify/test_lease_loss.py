"""A lease that cannot be renewed because the store stays unreachable is lost after one
TTL, and the loss is journaled (rollout.lease_lost) for the notifiers to send."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rollsafe.controller.lease import LeaseKeeper
from rollsafe.errors import StoreUnavailableError
from rollsafe.journal import Kind
from rollsafe.store import SqliteStore


def test_an_unreachable_store_loses_the_lease_after_a_ttl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(tmp_path / "rollsafe.db")
    plan = tmp_path / "plan.yaml"
    rollout = store.create_rollout(
        service="shop", plan_path=str(plan), plan_text="", steps=[("promote", {})], actor="t"
    )
    assert store.acquire_lease(rollout.id, "me:1", 0.3)
    tries: list[float] = []

    def unreachable(*args: object, **kwargs: object) -> bool:
        tries.append(time.monotonic())
        raise StoreUnavailableError("connection refused")

    monkeypatch.setattr(store, "acquire_lease", unreachable)
    monkeypatch.setattr(store, "release_lease", lambda *args: None)
    started = time.monotonic()
    with LeaseKeeper(store, rollout.id, "me:1", ttl=0.3) as keeper:
        assert keeper.lost.wait(2)
    lost_after = time.monotonic() - started
    (entry,) = [e for e in store.journal(rollout.id) if e.kind == Kind.ROLLOUT_LEASE_LOST]
    store.close()
    assert len(tries) >= 2  # kept trying while the lease was still valid
    assert 0.3 <= lost_after < 1.0
    assert entry.data["owner"] == "me:1"
    assert "connection refused" in entry.data["reason"]
