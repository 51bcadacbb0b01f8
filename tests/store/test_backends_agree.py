"""Both backends give the same records, journal and errors for the same calls.

One script exercises every method of the Store protocol, including refusals;
its observable results (timestamps, hashes and generated ids aside) must be
identical on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rollsafe.errors import RollsafeError
from rollsafe.store import (
    BackupRecord,
    PostgresStore,
    RolloutState,
    SqliteStore,
    StepState,
    Store,
)
from rollsafe.store.records import TokenRecord, TokenScope
from tests.store.backends import postgres_schema

VOLATILE = {"created_at", "updated_at", "started_at", "ended_at", "ts", "lease_until", "revoked_at"}
VOLATILE |= {"hash", "prev_hash"}  # they cover ts


def plain(value: Any, rollout_id: str) -> Any:
    """Records as JSON-like values; volatile fields reduced to whether they are set."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {
            key: (item is not None) if key in VOLATILE else plain(item, rollout_id)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [plain(item, rollout_id) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, str):
        return value.replace(rollout_id, "<rollout>")
    return value


def script(store: Store) -> list[Any]:
    results: list[Any] = []

    def attempt(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except RollsafeError as error:
            return {"error": type(error).__name__, "message": str(error)}

    rollout = store.create_rollout(
        service="shop",
        plan_path="/p/plan.yaml",
        plan_text="version: 1",
        steps=[("deploy", {"release": "1.1.0"}), ("flag", {"name": "f", "rollout": 10})],
        actor="cli",
    )
    rid = rollout.id
    results += [rollout, store.list_rollouts()]
    results.append(store.set_rollout_state(rid, RolloutState.RUNNING, actor="c", reason="go"))
    results.append(store.request(rid, "pause", actor="user", reason="look first"))
    results.append(store.request(rid, None, actor="user"))
    results.append(store.set_step_state(rid, 0, StepState.RUNNING, actor="c"))
    results.append(store.set_step_state(rid, 0, StepState.FAILED, result={"e": "x"}, actor="c"))
    results.append(store.set_step_state(rid, 0, StepState.RUNNING, actor="c"))
    results.append(store.set_step_state(rid, 0, StepState.SUCCEEDED, actor="c"))
    results.append(attempt(lambda: store.set_step_state(rid, 9, StepState.RUNNING, actor="c")))
    results.append(store.steps(rid))
    results.append(
        [
            store.acquire_lease(rid, "c1", ttl=60),
            store.acquire_lease(rid, "c1", ttl=60),
            store.acquire_lease(rid, "c2", ttl=60),
            store.acquire_lease(rid, "c2", ttl=60, take_over_from="c1"),
        ]
    )
    store.release_lease(rid, "c1")  # not the owner: changes nothing
    results.append(store.get_rollout(rid))
    store.release_lease(rid, "c2")
    results.append(store.get_rollout(rid))
    results.append(
        attempt(
            lambda: store.set_rollout_state(
                rid, RolloutState.PROMOTED, actor="c", expected={RolloutState.PAUSED}
            )
        )
    )
    store.request(rid, "abort", actor="user")
    results.append(store.set_rollout_state(rid, RolloutState.PROMOTED, actor="c", step_index=1))
    results.append(attempt(lambda: store.request(rid, "pause", actor="user")))
    results.append(attempt(lambda: store.get_rollout("ro-nope")))
    results.append(attempt(lambda: store.steps("ro-nope")))

    # Flags, environments, tombstones and the change feed
    results.append(store.create_environment("staging", actor="admin"))
    results.append(attempt(lambda: store.create_environment("staging", actor="admin")))
    results.append(attempt(lambda: store.create_environment("Bad Name!", actor="admin")))
    results.append(store.list_environments())
    results.append(store.put_flag("a", {"name": "a", "enabled": False}, actor="alice"))
    results.append(store.put_flag("a", {"name": "a", "enabled": True}, actor="bob", rollout_id=rid))
    results.append(attempt(lambda: store.put_flag("a", {}, actor="c", expected_version=1)))
    results.append(attempt(lambda: store.put_flag("z", {}, actor="c", expected_version=3)))
    results.append(attempt(lambda: store.put_flag("a", {}, actor="c", environment="nowhere")))
    results.append(
        store.put_flags({"b": {"name": "b"}, "c": {"name": "c"}}, actor="ci", environment="staging")
    )
    results.append(attempt(lambda: store.put_flags({"d": {}}, actor="ci", environment="nowhere")))
    results.append(attempt(lambda: store.delete_flag("a", actor="d", expected_version=1)))
    store.delete_flag("a", actor="dave")
    results.append(attempt(lambda: store.delete_flag("a", actor="dave")))
    results.append(attempt(lambda: store.get_flag("a")))
    store.delete_flag("b", actor="erin", environment="staging")
    results.append(store.put_flag("a", {"name": "a", "again": True}, actor="frank"))
    results.append(store.put_flag("n", {"name": "n"}, actor="g", expected_version=0))
    store.put_flags(
        {name: {"name": name} for name in ["Zeta", "beta_1", "beta-1", "Été"]}, actor="g"
    )
    results += [store.list_flags(), store.list_flags("staging"), store.get_flag("c", "staging")]
    results += [store.flags_revision(), store.flag_changes(), store.flag_changes(4)]

    # API tokens
    token = TokenRecord(
        id="t1",
        name="sdk",
        scope=TokenScope.CLIENT,
        environment="staging",
        sha256="ab" * 32,
        created_at=1.5,
        created_by="admin",
    )
    store.add_token(token, actor="admin")
    store.add_token(
        dataclasses.replace(token, id="t2", environment="*", created_at=1.75), actor="admin"
    )
    results.append(attempt(lambda: store.add_token(token, actor="admin")))
    results.append(
        attempt(
            lambda: store.add_token(dataclasses.replace(token, id="t3", environment="x"), actor="a")
        )
    )
    results += [store.get_token("t1"), store.revoke_token("t1", actor="admin")]
    results += [store.revoke_token("t1", actor="admin"), store.list_tokens()]
    results += [
        attempt(lambda: store.get_token("nope")),
        attempt(lambda: store.revoke_token("no", actor="a")),
    ]

    # Backups
    backup = BackupRecord(
        id="b1",
        source="orders",
        kind="sqlite",
        path="/backups/orders.db",
        sha256="cd" * 32,
        size=123,
        created_at=2.5,
        rollout_id=rid,
        manifest={"tables": {"orders": 3}, "é": "✓"},
    )
    store.add_backup(backup, actor="c")
    store.add_backup(
        dataclasses.replace(backup, id="b2", source="files", rollout_id=None), actor="c"
    )
    results += [store.list_backups(), store.list_backups("orders"), store.get_backup("b2")]
    store.delete_backup("b1", actor="c", reason="retention")
    results += [store.list_backups(), attempt(lambda: store.get_backup("b1"))]
    results.append(attempt(lambda: store.delete_backup("b1", actor="c", reason="again")))

    # The journal
    results.append(store.append("note", {"text": "é ✓", "n": [1, 2.5, None]}, actor="me"))
    results += [store.journal(), store.journal(rid), store.journal(after_seq=20)]
    results.append(store.verify_journal())
    return plain(results, rid)


def test_sqlite_and_postgres_agree_on_every_method(tmp_path: Path) -> None:
    sqlite = SqliteStore(tmp_path / "rollsafe.db")
    try:
        expected = script(sqlite)
    finally:
        sqlite.close()
    with postgres_schema() as url:
        postgres = PostgresStore(url)
        try:
            actual = script(postgres)
        finally:
            postgres.close()
    assert len(actual) == len(expected)
    for index, (mine, theirs) in enumerate(zip(actual, expected, strict=True)):
        assert mine == theirs, f"result {index} differs"


def test_postgres_store_has_every_method_of_the_sqlite_store_with_its_signature() -> None:
    methods = [name for name in vars(SqliteStore) if not name.startswith("_")]
    assert methods
    for name in methods:
        assert hasattr(PostgresStore, name), f"PostgresStore lacks {name}"
        if isinstance(vars(SqliteStore)[name], property):
            assert isinstance(getattr(PostgresStore, name), property), name
            continue
        theirs = inspect.signature(getattr(SqliteStore, name))
        mine = inspect.signature(getattr(PostgresStore, name))
        assert list(mine.parameters.items()) == list(theirs.parameters.items()), name
