"""Open a store from its address: ``--store`` / ``ROLLSAFE_STORE``, a path or a URL."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from rollsafe.store.protocol import Store
from rollsafe.store.sqlite import SqliteStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
DATABASE_FILE = "rollsafe.db"


def is_postgres_url(address: str) -> bool:
    return address.startswith(POSTGRES_SCHEMES)


def redacted(address: str) -> str:
    """``address`` fit for messages and logs: a URL loses its password, wherever it is."""
    if not is_postgres_url(address):
        return address
    parts = urlsplit(address)
    user = f"{parts.username}@" if parts.username else ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "password"]
    return urlunsplit(
        (parts.scheme, f"{user}{host}{port}", parts.path, urlencode(query), parts.fragment)
    )


def open_store_url(address: str | os.PathLike[str]) -> Store:
    """A ``postgresql://`` URL (or libpq ``postgres://``) or a SQLite path.

    A path naming an existing directory means the ``rollsafe.db`` inside it.
    """
    text = os.fspath(address)
    if is_postgres_url(text):
        # psycopg loads only when PostgreSQL is used: services on SQLite start fast.
        from rollsafe.store.postgres import PostgresStore

        return PostgresStore(text)
    path = Path(text).expanduser()
    return SqliteStore(path / DATABASE_FILE if path.is_dir() else path)
