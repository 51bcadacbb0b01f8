"""Writing an entry of the hash chain inside a transaction, and reading the chain back."""

from __future__ import annotations

from rollsafe.journal import GENESIS_HASH, JournalEntry, next_entry
from rollsafe.store import rows as record
from rollsafe.store.transaction import Reader, Transaction


def head(db: Reader) -> tuple[int, str]:
    """The seq and hash of the last entry (0 and the genesis hash before the first)."""
    row = db.one("SELECT seq, hash FROM journal_head WHERE id = 1")
    return (row["seq"], row["hash"]) if row else (0, GENESIS_HASH)


def append(
    tx: Transaction,
    after: tuple[int, str],
    kind: str,
    text: str,
    *,
    actor: str,
    rollout_id: str | None,
) -> JournalEntry:
    """Chain an entry (``text``: its data as canonical JSON) after the head ``after``.

    Runs in the transaction whose change the entry records, which holds the head.
    """
    entry = next_entry(after, kind, text, actor=actor, rollout_id=rollout_id)
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
