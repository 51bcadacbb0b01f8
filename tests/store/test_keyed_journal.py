"""With a journal key, both backends chain entries by HMAC, and verify with the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollsafe.journal.keys import KEY_FILE_ENV
from tests.store.backends import Backend


def test_entries_are_keyed_and_an_edit_is_caught(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "journal.key"
    key.write_text("s" * 32)
    key.chmod(0o600)
    monkeypatch.setenv(KEY_FILE_ENV, str(key))
    store = backend.open()
    for number in range(3):
        store.append("test.event", {"n": number}, actor="tester")
    entries = store.journal()
    assert all(entry.hash.startswith("hmac-sha256:") for entry in entries)
    assert entries[1].prev_hash == entries[0].hash
    result = store.verify_journal()
    assert (result.ok, result.entries, result.unkeyed) == (True, 3, 0)

    backend.edit("UPDATE journal SET actor = 'mallory' WHERE seq = 2")
    broken = store.verify_journal()
    assert (broken.ok, broken.broken_seq) == (False, 2)

    monkeypatch.delenv(KEY_FILE_ENV)
    without = store.verify_journal()
    assert (without.ok, without.broken_seq) == (False, 1)
    assert "set ROLLSAFE_JOURNAL_KEY_FILE" in without.reason
