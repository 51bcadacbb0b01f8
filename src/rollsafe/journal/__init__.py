"""The append-only, hash-chained journal: every measurement, verdict and action."""

from rollsafe.journal.chain import (
    GENESIS_HASH,
    JournalEntry,
    VerifyResult,
    canonical_json,
    entry_hash,
    verify_chain,
)

__all__ = [
    "GENESIS_HASH",
    "JournalEntry",
    "VerifyResult",
    "canonical_json",
    "entry_hash",
    "verify_chain",
]
