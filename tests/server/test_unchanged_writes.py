"""Setting a flag to what it already is writes nothing: no version, journal entry or event."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from rollsafe.flags import rollout_feature
from rollsafe.store.sqlite import SqliteStore
from tests.server.test_flag_commands import rollsafe


def flag_changes(home: Path) -> int:
    store = SqliteStore(home / "rollsafe.db")
    try:
        return sum(1 for e in store.journal() if e.kind == "flag.changed")
    finally:
        store.close()


def test_flags_set_to_the_same_value_is_a_no_op(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert rollsafe(home, "flags", "set", "checkout", "--rollout", "25").returncode == 0
    again = rollsafe(home, "flags", "set", "checkout", "--rollout", "25")
    assert again.returncode == 0, again.stderr
    assert "unchanged: already on for 25% (version 1)" in again.stdout
    assert json.loads(rollsafe(home, "flags", "get", "checkout").stdout)["version"] == 1
    assert flag_changes(home) == 1
    changed = rollsafe(home, "flags", "set", "checkout", "--rollout", "30")
    assert "on for 30% (version 2)" in changed.stdout
    assert "unchanged" not in changed.stdout
    assert flag_changes(home) == 2


def test_a_put_of_the_same_definition_writes_nothing(api: httpx.Client, store: SqliteStore) -> None:
    definition = rollout_feature("checkout", 10)
    created = api.put(
        "/api/admin/flags/checkout", json={"definition": definition, "expected_version": 0}
    )
    assert (created.status_code, created.json()["changed"]) == (201, True)
    revision = store.flags_revision()
    again = api.put(
        "/api/admin/flags/checkout", json={"definition": definition, "expected_version": 1}
    )
    assert again.status_code == 200
    assert (again.json()["version"], again.json()["changed"]) == (1, False)
    assert again.headers["etag"] == '"1"'
    assert store.flags_revision() == revision
    assert sum(1 for e in store.journal() if e.kind == "flag.changed") == 1
    # Still refused: creating what exists, and a stale version, even with the same definition.
    for stale in (0, 2):
        body = {"definition": definition, "expected_version": stale}
        assert api.put("/api/admin/flags/checkout", json=body).status_code == 409
