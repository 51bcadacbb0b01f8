"""Appending to the hash chain inside a write, and reading it back."""

from __future__ import annotations

from typing import Any

from rollsafe.journal import GENESIS_HASH, JournalEntry, next_entry
from rollsafe.store import rows as record
from rollsafe.store.transaction import Reader, Transaction


def append(
    tx: Transaction, kind: str, data: dict[str, Any], *, actor: str, rollout_id: str | None
) -> JournalEntry:
    """Chain an entry after the head, in the transaction whose change it records."""
    head = tx.one("SELECT seq, hash FROM journal_head WHERE id = 1")
    at = (head["seq"], head["hash"]) if head else (0, GENESIS_HASH)
    entry, text = next_entry(at, kind, data, actor=actor, rollout_id=rollout_id)
    tx.execute(
        "INSERT INTO journal (seq, ts, kind, actor, rollout_id, data, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (entry.seq, entry.ts, kind, actor, rollout_id, text, entry.prev_hash, entry.hash),
    )
    tx.execute(
        "INSERT INTO journal_head (id, seq, hash) VALUES (1, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        (entry.seq, entry.hash),
    )
    return entry


def entries(db: Reader, rollout_id: str | None, after_seq: int) -> list[JournalEntry]:
    if rollout_id is None:
        rows = db.all("SELECT * FROM journal WHERE seq > ? ORDER BY seq", (after_seq,))
    else:
        rows = db.all(
            "SELECT * FROM journal WHERE rollout_id = ? AND seq > ? ORDER BY seq",
            (rollout_id, after_seq),
        )
    return [record.entry(row) for row in rows]
