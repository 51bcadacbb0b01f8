"""What the store's rules need of a backend: a narrow transaction, the same on every database.

The rules (`rollsafe.store.rules`) are plain functions over these protocols, so
SQLite and PostgreSQL run one text of them and cannot drift apart. SQL in the
rules uses ``?`` placeholders and PostgreSQL's ``COLLATE "C"`` (byte order);
each backend translates or provides what its database lacks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from rollsafe.errors import StoreError
from rollsafe.journal import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.store.rows import Row


class Reader(Protocol):
    """Reads inside one connection (and, when writing, one transaction)."""

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> Row | None:
        """The first row of ``sql``, or None."""
        ...

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> Sequence[Row]: ...


class Transaction(Reader, Protocol):
    """One write transaction, serialised with every other write to the store."""

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """Run a statement; how many rows it changed."""
        ...

    def journal(
        self, kind: Kind, data: Mapping[str, Any], *, actor: str, rollout_id: str | None
    ) -> JournalEntry:
        """Chain an entry recording this transaction's change (`rules.journaling.append`)."""
        ...

    def now(self) -> float:
        """The clock leases are judged by (PostgreSQL: the server's, one for all hosts)."""
        ...

    def flags_changed(self, revision: int) -> None:
        """Tell listening replicas, once this transaction commits, that flags moved on."""
        ...


def found(row: Row | None) -> Row:
    """A row this transaction wrote or locked, which must be there."""
    if row is None:
        raise StoreError("a row written in this transaction is missing")
    return row
