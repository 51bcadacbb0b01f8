"""Reading one entry's data as the payload its kind is journaled with.

A payload TypedDict describes, it does not validate: reading is a cast of a
copy of the entry's data, after checking the entry is of the kind the payload
belongs to (asking for the wrong kind is a bug in the reader, said at once).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rollsafe.journal.chain import JournalEntry
from rollsafe.journal.kinds import Kind


def data_of(entry: JournalEntry, *kinds: Kind) -> dict[str, Any]:
    """A copy of ``entry``'s data; ValueError if the entry is none of ``kinds``."""
    if entry.kind not in kinds:
        expected = " or ".join(str(kind) for kind in kinds)
        raise ValueError(f"journal entry {entry.seq} is {entry.kind}, not {expected}")
    return dict(entry.data)


def of_kind(entries: Iterable[JournalEntry], kind: Kind) -> list[JournalEntry]:
    """The entries of one kind, in journal order."""
    return [entry for entry in entries if entry.kind == kind]
