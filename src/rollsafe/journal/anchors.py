"""Anchors: the journal's head hash kept outside the store, so a full rewrite shows.

Whoever can write to the database can rewrite every entry and recompute an
unkeyed chain; ``journal verify`` alone then passes. An anchor taken earlier
and kept elsewhere (another machine, a ticket, a chat message) still names the
hash that entry ``seq`` had: if the journal now holds a different entry there,
or fewer entries, it was rewritten or truncated. Entries after the anchor are
covered only by a newer anchor.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rollsafe.errors import PlanError
from rollsafe.journal.chain import JournalEntry

FORMAT = "rollsafe-journal-anchor/1"


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    taken_at: float

    def to_json(self) -> str:
        fields = {"format": FORMAT, "seq": self.seq, "hash": self.hash, "taken_at": self.taken_at}
        return json.dumps(fields, indent=2, sort_keys=True) + "\n"


def anchor_of(head: JournalEntry) -> Anchor:
    return Anchor(seq=head.seq, hash=head.hash, taken_at=time.time())


def read_anchor(path: Path) -> Anchor:
    """The anchor in ``path``; PlanError naming the file when it is not one."""
    try:
        value = json.loads(path.read_text(encoding="utf-8")[:10_000])
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise PlanError([f"{path}: not a journal anchor: {error}"]) from None
    if not isinstance(value, dict) or value.get("format") != FORMAT:
        raise PlanError([f"{path}: not a journal anchor (no format {FORMAT!r})"])
    seq, digest, taken_at = value.get("seq"), value.get("hash"), value.get("taken_at", 0)
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise PlanError([f"{path}: seq: must be an entry number (1 or more), got {seq!r}"])
    if not isinstance(digest, str) or not digest:
        raise PlanError([f"{path}: hash: must be the entry's hash, got {digest!r}"])
    if isinstance(taken_at, bool) or not isinstance(taken_at, int | float):
        raise PlanError([f"{path}: taken_at: must be a time in seconds, got {taken_at!r}"])
    return Anchor(seq=seq, hash=digest, taken_at=float(taken_at))


def check_anchor(entries: Iterable[JournalEntry], anchor: Anchor) -> str | None:
    """Why the journal does not hold the anchored entry, or None when it does."""
    last = 0
    for entry in entries:
        last = entry.seq
        if entry.seq == anchor.seq:
            if entry.hash != anchor.hash:
                return (
                    f"entry {anchor.seq} is not the one anchored at {_when(anchor)}: the journal"
                    " was rewritten up to there"
                )
            return None
    return (
        f"the journal ends at entry {last}, before entry {anchor.seq} anchored at"
        f" {_when(anchor)}: entries were deleted"
    )


def _when(anchor: Anchor) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(anchor.taken_at))
