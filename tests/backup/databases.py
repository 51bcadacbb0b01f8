"""Fresh PostgreSQL databases on the local test server, for backups that dump a whole database.

A store test can live in a schema of its own; a ``pg_dump`` covers every schema of
a database, so each backup test gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from tests.store.backends import POSTGRES_URL, admin

ORDERS = """
CREATE TABLE orders (id BIGSERIAL PRIMARY KEY, item TEXT NOT NULL, qty INTEGER NOT NULL);
INSERT INTO orders (item, qty) SELECT 'item-' || n, n FROM generate_series(1, 100) AS n;
"""


def database_url(name: str) -> str:
    base, _, _ = POSTGRES_URL.partition("?")
    return base.rsplit("/", 1)[0] + f"/{name}"


def with_password(url: str, password: str) -> str:
    """``url`` with a password in it (the test server's trust auth ignores it)."""
    scheme, _, rest = url.partition("://")
    user, at, host = rest.partition("@")
    assert at, f"{url} names no user"
    return f"{scheme}://{user}:{password}@{host}"


@contextmanager
def fresh_database(schema: str = ORDERS) -> Iterator[str]:
    """A new database holding ``schema``; yields its URL and drops it afterwards."""
    name = f"rs_pg_{secrets.token_hex(6)}"
    with admin() as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = database_url(name)
    try:
        with psycopg.connect(url) as connection:
            connection.execute(schema.encode())
        yield url
    finally:
        with admin() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
            )


def orders(url: str) -> list[tuple[int, str, int]]:
    with psycopg.connect(url) as connection:
        return connection.execute("SELECT id, item, qty FROM orders ORDER BY id").fetchall()


def execute(url: str, statement: str) -> None:
    with psycopg.connect(url) as connection:
        connection.execute(statement.encode())
