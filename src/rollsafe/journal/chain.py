"""Hash chaining: each entry's hash covers the previous hash and its own canonical JSON.

Editing any field of any entry changes its hash; deleting an entry breaks the
next entry's link or, for the newest one, the recorded head. Verification
needs nothing but the entries themselves and the head.

With a journal key (`rollsafe.journal.keys`), new entries are chained by
HMAC-SHA256 instead, spelt ``hmac-sha256:<hex>``: without the key nobody can
recompute them after an edit. Entries written before a key was set keep their
plain SHA-256 and still verify; a plain entry after a keyed one is a rewrite.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rollsafe.errors import PlanError
from rollsafe.journal.keys import KEY_FILE_ENV, configured_key

GENESIS_HASH = "0" * 64
KEYED_PREFIX = "hmac-sha256:"


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
    """The hash a new entry gets: keyed when this process has a journal key.

    A process without the key may not extend a keyed chain: its plain entry would
    read as a rewrite. The write is refused instead, before anything is stored.
    """
    key = configured_key()
    if key is None and prev_hash.startswith(KEYED_PREFIX):
        raise PlanError(
            [
                f"the journal is keyed: set {KEY_FILE_ENV} to the journal key to write to it"
                " (see docs/journal.md)"
            ]
        )
    return _digest(prev_hash, body, key)


def _digest(prev_hash: str, body: dict[str, Any], key: bytes | None) -> str:
    message = (prev_hash + canonical_json(body)).encode()
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return KEYED_PREFIX + hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    broken_seq: int | None = None
    reason: str = ""
    unkeyed: int = 0
    """Checked with a key: how many entries (all at the start) have a plain hash."""


def verify_chain(entries: Iterable[JournalEntry], head: tuple[int, str] | None) -> VerifyResult:
    """Check every link in order; report the first entry that does not hold.

    Keyed entries need the journal key (this process's); without it they cannot be
    verified, which is reported as a break.
    """
    key = configured_key()
    prev_hash, expected_seq, count, unkeyed, keyed_seen = GENESIS_HASH, 1, 0, 0, False
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
        keyed = entry.hash.startswith(KEYED_PREFIX)
        if keyed and key is None:
            return _broken(
                count,
                entry.seq,
                f"entry {entry.seq} is keyed: set ROLLSAFE_JOURNAL_KEY_FILE to verify it",
            )
        if keyed_seen and not keyed:
            return _broken(
                count,
                entry.seq,
                f"entry {entry.seq} has a plain hash after keyed entries: rewritten without"
                " the key",
            )
        if _digest(prev_hash, entry.body(), key if keyed else None) != entry.hash:
            modified = "its content does not match its hash"
            if keyed:
                modified += " (or the journal key is not the one it was written with)"
            return _broken(count, entry.seq, f"entry {entry.seq} was modified: {modified}")
        keyed_seen = keyed_seen or keyed
        unkeyed += not keyed
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
    return VerifyResult(ok=True, entries=count, unkeyed=unkeyed if key is not None else 0)


def _broken(count: int, seq: int, reason: str) -> VerifyResult:
    return VerifyResult(ok=False, entries=count, broken_seq=seq, reason=reason)
