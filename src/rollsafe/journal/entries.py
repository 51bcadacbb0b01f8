"""Building the next entry of the chain: one recipe for every backend that stores it."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from rollsafe.journal.chain import JournalEntry, canonical_json, entry_hash


def next_entry(
    head: tuple[int, str],
    kind: str,
    data: dict[str, Any],
    *,
    actor: str,
    rollout_id: str | None,
) -> tuple[JournalEntry, str]:
    """The entry that follows ``head`` (its seq and hash), and the text of its data to store.

    The data is round-tripped through canonical JSON, so the hash covers exactly
    what is stored and read back.
    """
    seq, prev_hash = head
    text = canonical_json(data)
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
    return dataclasses.replace(entry, hash=entry_hash(prev_hash, entry.body())), text
