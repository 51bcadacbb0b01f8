"""The two store backends as test subjects: a SQLite file, or a fresh PostgreSQL schema.

PostgreSQL tests use the local server (``ROLLSAFE_TEST_POSTGRES_URL``, by default
``postgresql://postgres@127.0.0.1:5432/test``, trust auth); each test gets its
own schema, selected through ``search_path`` in the URL and dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from rollsafe.store import PostgresStore, SqliteStore, Store
from rollsafe.store import postgres as postgres_module
from rollsafe.store import sqlite as sqlite_module

POSTGRES_URL = os.environ.get(
    "ROLLSAFE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def admin() -> psycopg.Connection[Any]:
    return psycopg.connect(POSTGRES_URL, autocommit=True)


def schema_url(schema: str) -> str:
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh, empty schema; yields a URL whose connections use it."""
    schema = f"rs_test_{secrets.token_hex(6)}"
    with admin() as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema_url(schema)
    finally:
        with admin() as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


def terminate(application_name: str) -> int:
    """pg_terminate_backend every session of that application; wait until those are gone."""
    with admin() as connection:
        pids = [
            row[0]
            for row in connection.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE application_name = %s AND pid <> pg_backend_pid()",
                (application_name,),
            )
        ]
        for pid in pids:
            connection.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(500):
            left = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
            ).fetchone()
            if left is not None and left[0] == 0:
                break
            time.sleep(0.005)
    return len(pids)


class Backend:
    """One place a store lives; opens stores there and edits its rows behind their back."""

    name: str
    schema_version: int

    def __init__(self) -> None:
        self._opened: list[Store] = []

    def open(self) -> Store:
        store = self._open()
        self._opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self._opened:
            store.close()

    def _open(self) -> Store:
        raise NotImplementedError

    def edit(self, sql: str, *params: object) -> None:
        """Run one statement (``?`` placeholders) outside the store, as a tamperer would."""
        raise NotImplementedError

    def stored_schema_version(self) -> int:
        raise NotImplementedError

    def set_schema_version(self, version: int) -> None:
        raise NotImplementedError


class SqliteBackend(Backend):
    name = "sqlite"
    schema_version = sqlite_module.SCHEMA_VERSION

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _open(self) -> Store:
        return SqliteStore(self.path)

    def edit(self, sql: str, *params: object) -> None:
        connection = sqlite3.connect(self.path)
        with connection:
            connection.execute(sql, params)
        connection.close()

    def stored_schema_version(self) -> int:
        connection = sqlite3.connect(self.path)
        try:
            return int(connection.execute("PRAGMA user_version").fetchone()[0])
        finally:
            connection.close()

    def set_schema_version(self, version: int) -> None:
        self.edit(f"PRAGMA user_version = {int(version)}")


class PostgresBackend(Backend):
    name = "postgres"
    schema_version = postgres_module.SCHEMA_VERSION

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def _open(self) -> Store:
        return PostgresStore(self.url)

    def edit(self, sql: str, *params: object) -> None:
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]

    def stored_schema_version(self) -> int:
        with psycopg.connect(self.url) as connection:
            row = connection.execute("SELECT version FROM schema_version").fetchone()
            assert row is not None
            return int(row[0])

    def set_schema_version(self, version: int) -> None:
        self.edit("UPDATE schema_version SET version = ?", version)
