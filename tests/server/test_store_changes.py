"""The store's side of the flag service: change feed, tombstones, environments, upgrade."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rollsafe.errors import ConflictError, NotFoundError, StoreError
from rollsafe.flags import rollout_feature
from rollsafe.store.sqlite import MIGRATIONS, SqliteStore


def test_the_change_feed_reports_updates_and_deletions_after_a_revision(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "rollsafe.db")
    store.put_flag("a", rollout_feature("a", 10), actor="t")
    store.put_flag("b", rollout_feature("b", 10), actor="t")
    seen = store.flags_revision()
    store.put_flag("a", rollout_feature("a", 20), actor="t")
    store.delete_flag("b", actor="t", expected_version=1)
    changes = store.flag_changes(seen)
    assert [(c.name, c.version, c.revision, c.definition is None) for c in changes] == [
        ("a", 2, 3, False),
        ("b", 2, 4, True),
    ]
    assert [f.name for f in store.list_flags()] == ["a"]
    with pytest.raises(NotFoundError):
        store.get_flag("b")
    store.close()


def test_a_deleted_flag_is_created_again_from_version_zero_continuing_its_versions(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "rollsafe.db")
    store.put_flag("a", rollout_feature("a", 10), actor="t")
    store.delete_flag("a", actor="t")
    with pytest.raises(ConflictError):
        store.put_flag("a", rollout_feature("a", 10), actor="t", expected_version=2)
    again = store.put_flag("a", rollout_feature("a", 30), actor="t", expected_version=0)
    assert again.version == 3
    store.close()


def test_writing_several_flags_is_all_or_nothing(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "rollsafe.db")
    with pytest.raises(NotFoundError, match="no environment 'prod'"):
        store.put_flags({"a": rollout_feature("a", 1)}, actor="t", environment="prod")
    records = store.put_flags(
        {"a": rollout_feature("a", 1), "b": rollout_feature("b", 2)}, actor="t"
    )
    assert [r.version for r in records] == [1, 1]
    assert store.flags_revision() == 1
    assert len(store.journal()) == 2
    store.close()


def test_environments_hold_their_own_flags(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "rollsafe.db")
    store.create_environment("staging", actor="t")
    with pytest.raises(ConflictError):
        store.create_environment("staging", actor="t")
    with pytest.raises(StoreError, match="invalid"):
        store.create_environment("Has Spaces", actor="t")
    store.put_flag("a", rollout_feature("a", 5), actor="t", environment="staging")
    assert store.list_flags() == []
    assert store.get_flag("a", "staging").version == 1
    assert store.journal()[-1].data["environment"] == "staging"
    assert [e.name for e in store.list_environments()] == ["default", "staging"]
    store.close()


def test_a_store_of_the_first_schema_keeps_its_flags_on_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "rollsafe.db"
    old = sqlite3.connect(path)
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            old.execute(statement)
    old.execute(
        'INSERT INTO flags VALUES (\'checkout\', \'{"name":"checkout","enabled":true}\', 4,'
        " 1.0, 'controller')"
    )
    old.execute("UPDATE counters SET value = 7 WHERE name = 'flags_revision'")
    old.execute("PRAGMA user_version = 1")
    old.commit()
    old.close()
    store = SqliteStore(path)
    flag = store.get_flag("checkout")
    assert (flag.version, flag.updated_by, flag.definition["enabled"]) == (4, "controller", True)
    assert store.flags_revision() == 7
    assert (
        store.put_flag("checkout", {"name": "checkout"}, actor="t", expected_version=4).version == 5
    )
    assert [c.revision for c in store.flag_changes(7)] == [8]
    store.close()
