"""Hash chaining: each entry's hash covers the previous hash and its own canonical JSON.

Editing any field of any entry changes its hash; deleting an entry breaks the
next entry's link or, for the newest one, the recorded head. Verification
needs nothing but the entries themselves and the head.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no whitespace, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    ts: float
    kind: str
    actor: str
    rollout_id: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        """The fields the hash covers (all but the hashes themselves)."""
        return {
            "seq": self.seq,
            "ts": self.ts,
            "kind": self.kind,
            "actor": self.actor,
            "rollout_id": self.rollout_id,
            "data": self.data,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.body(), "prev_hash": self.prev_hash, "hash": self.hash}


def entry_hash(prev_hash: str, body: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(body)).encode()).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    broken_seq: int | None = None
    reason: str = ""


def verify_chain(entries: Iterable[JournalEntry], head: tuple[int, str] | None) -> VerifyResult:
    """Check every link in order; report the first entry that does not hold."""
    prev_hash, expected_seq, count = GENESIS_HASH, 1, 0
    for entry in entries:
        count += 1
        if entry.seq != expected_seq:
            return _broken(
                count, expected_seq, f"entry {expected_seq} is missing (next is {entry.seq})"
            )
        if entry.prev_hash != prev_hash:
            return _broken(
                count, entry.seq, f"entry {entry.seq} does not link to entry {entry.seq - 1}"
            )
        if entry_hash(prev_hash, entry.body()) != entry.hash:
            return _broken(
                count,
                entry.seq,
                f"entry {entry.seq} was modified: its content does not match its hash",
            )
        prev_hash, expected_seq = entry.hash, entry.seq + 1
    last_seq = expected_seq - 1
    if head is None:
        if count:
            return _broken(count, last_seq, "the journal head record is missing")
        return VerifyResult(ok=True, entries=0)
    head_seq, head_hash = head
    if head_seq != last_seq:
        return _broken(
            count, last_seq + 1, f"entries after {last_seq} were deleted (head is {head_seq})"
        )
    if head_hash != prev_hash:
        return _broken(count, last_seq, f"entry {last_seq} does not match the journal head")
    return VerifyResult(ok=True, entries=count)


def _broken(count: int, seq: int, reason: str) -> VerifyResult:
    return VerifyResult(ok=False, entries=count, broken_seq=seq, reason=reason)
