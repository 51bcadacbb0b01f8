"""Open a store from its address: ``--store`` / ``ROLLSAFE_STORE``, a path or a URL."""

from __future__ import annotations

import os
from pathlib import Path

from rollsafe.errors import StoreError
from rollsafe.store.protocol import Store
from rollsafe.store.sqlite import SqliteStore
from rollsafe.support.private import create_private_file, private_directory
from rollsafe.support.redaction import is_postgres_url, redacted

__all__ = ["DATABASE_FILE", "is_postgres_url", "open_store_url", "redacted"]

DATABASE_FILE = "rollsafe.db"


def open_store_url(address: str | os.PathLike[str]) -> Store:
    """A ``postgresql://`` URL (or libpq ``postgres://``) or a SQLite path.

    A path naming an existing directory means the ``rollsafe.db`` inside it.
    """
    text = os.fspath(address)
    if is_postgres_url(text):
        # psycopg loads only when PostgreSQL is used: services on SQLite start fast.
        from rollsafe.store.postgres import PostgresStore

        return PostgresStore(text)
    # POSTGRESQL://, postgresq:// or "host=db password=...": a mistyped address, not a file
    # to create under a name that holds a password.
    if "://" in text or redacted(text) != text:
        raise StoreError(
            f"{redacted(text)}: not a store address; give a SQLite file or a URL starting"
            " postgresql:// or postgres://"
        )
    path = Path(text).expanduser()
    path = path / DATABASE_FILE if path.is_dir() else path
    # Created private here, so that SQLite gives its -wal and -shm files the same mode.
    create_private_file(private_directory(path.parent) / path.name)
    return SqliteStore(path)
