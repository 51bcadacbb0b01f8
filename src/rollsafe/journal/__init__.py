"""The append-only, hash-chained journal: every measurement, verdict and action."""

from rollsafe.journal.anchors import Anchor, anchor_of, check_anchor, read_anchor
from rollsafe.journal.chain import (
    GENESIS_HASH,
    JournalEntry,
    VerifyResult,
    canonical_json,
    entry_hash,
    verify_chain,
)
from rollsafe.journal.entries import next_entry
from rollsafe.journal.kinds import Kind

__all__ = [
    "GENESIS_HASH",
    "Anchor",
    "JournalEntry",
    "Kind",
    "VerifyResult",
    "anchor_of",
    "canonical_json",
    "check_anchor",
    "entry_hash",
    "next_entry",
    "read_anchor",
    "verify_chain",
]
