"""Flags straight from a rollsafe state store, with no flag server: a SQLite file on the
service's machine, or the PostgreSQL database the controllers share.

Each read is one indexed query of the flags revision; the changed flags are
read only when it moved, and come back as a delta document.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rollsafe.sdk.protocol import delta_event, hydration
from rollsafe.store.opening import open_store_url
from rollsafe.store.protocol import Store
from rollsafe.store.records import DEFAULT_ENVIRONMENT
from rollsafe.support.redaction import is_postgres_url, redacted


class StoreSource:
    """Reads changes from the store at ``address`` (a SQLite path or a ``postgresql://``
    URL); not thread-safe (one reader thread)."""

    def __init__(
        self, address: str | os.PathLike[str], environment: str = DEFAULT_ENVIRONMENT
    ) -> None:
        self.address = os.fspath(address)
        self.where = redacted(self.address)
        self.environment = environment
        self._store: Store | None = None
        self._revision: int | None = None

    def read(self) -> tuple[dict[str, Any], int] | None:
        """A delta document and the revision it brings, or None when nothing changed.

        Raises `rollsafe.errors.StoreError` when the store cannot be read. A store
        file that does not exist yet is "nothing changed" (it is not created here).
        """
        if self._store is None:
            if not self.exists():
                return None
            self._store = open_store_url(self.address)
        revision = self._store.flags_revision()
        if revision == self._revision:
            return None
        if self._revision is None or revision < self._revision:
            features = [
                {**record.definition, "name": record.name}
                for record in self._store.list_flags(self.environment)
            ]
            document = hydration(features)
        else:
            changes = [
                c for c in self._store.flag_changes(self._revision)
                if c.environment == self.environment
            ]  # fmt: skip
            document = {"events": [delta_event(c) for c in changes]}
            revision = max([revision, *(c.revision for c in changes)])
        self._revision = revision
        return document, revision

    def exists(self) -> bool:
        """False for a SQLite file not created yet; a database is assumed to exist."""
        return is_postgres_url(self.address) or Path(self.address).exists()

    def forget(self) -> None:
        """Drop the connection without closing it (in a child after fork: it is the parent's)."""
        self._store = None
        self._revision = None

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
