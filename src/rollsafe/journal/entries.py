"""Building the next entry of the chain: one recipe for every backend that stores it."""

from __future__ import annotations

import dataclasses
import json
import time

from rollsafe.journal.chain import JournalEntry, entry_hash


def next_entry(
    head: tuple[int, str],
    kind: str,
    text: str,
    *,
    actor: str,
    rollout_id: str | None,
) -> JournalEntry:
    """The entry that follows ``head`` (its seq and hash), with ``text`` as its data.

    ``text`` is the data as `canonical_json` spells it, the text a backend
    stores: the entry's data is read back from it, so the hash covers exactly
    what is stored.
    """
    seq, prev_hash = head
    entry = JournalEntry(
        seq=seq + 1,
        ts=time.time(),
        kind=kind,
        actor=actor,
        rollout_id=rollout_id,
        data=json.loads(text),
        prev_hash=prev_hash,
        hash="",
    )
    return dataclasses.replace(entry, hash=entry_hash(prev_hash, entry.body()))
