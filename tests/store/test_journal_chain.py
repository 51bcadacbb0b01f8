"""The journal's hash chain catches every edit and deletion, and nothing else."""

from __future__ import annotations

import itertools

import pytest

from rollsafe.store import Store
from tests.store.backends import Backend


@pytest.fixture
def store(backend: Backend) -> Store:
    store = backend.open()
    for number in range(5):
        store.append("test.event", {"n": number, "text": "é ✓"}, actor="tester")
    return store


def test_intact_chain_verifies(store: Store) -> None:
    result = store.verify_journal()
    assert result.ok
    assert result.entries == 5


def test_entries_link_to_their_predecessor(store: Store) -> None:
    entries = store.journal()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))


@pytest.mark.parametrize(
    ("sql", "params", "broken"),
    [
        ("UPDATE journal SET data = ? WHERE seq = 3", ('{"n":99,"text":"é ✓"}',), 3),
        ("UPDATE journal SET actor = ? WHERE seq = 2", ("mallory",), 2),
        ("UPDATE journal SET ts = ts + 1 WHERE seq = 4", (), 4),
        ("UPDATE journal SET kind = ? WHERE seq = 1", ("other",), 1),
        ("DELETE FROM journal WHERE seq = 2", (), 2),
        ("DELETE FROM journal WHERE seq = 5", (), 5),
        ("UPDATE journal SET data = ? WHERE seq = 5", ("not json",), 5),
    ],
)
def test_any_edit_or_deletion_names_the_entry(
    backend: Backend, store: Store, sql: str, params: tuple[object, ...], broken: int
) -> None:
    backend.edit(sql, *params)
    result = store.verify_journal()
    assert not result.ok
    assert result.broken_seq == broken
    assert str(broken) in result.reason


def test_rehashing_one_entry_still_breaks_the_next_link(backend: Backend, store: Store) -> None:
    entries = store.journal()
    backend.edit("UPDATE journal SET hash = ? WHERE seq = 2", "f" * 64)
    result = store.verify_journal()
    assert not result.ok
    assert result.broken_seq == 2
    assert entries[2].prev_hash != "f" * 64


def test_store_changes_are_journaled_in_the_same_transaction(backend: Backend) -> None:
    store = backend.open()
    store.put_flag("f", {"name": "f", "enabled": True, "strategies": []}, actor="alice")
    kinds = [(e.kind, e.actor) for e in store.journal()]
    assert kinds == [("flag.changed", "alice")]
    assert store.verify_journal().ok
