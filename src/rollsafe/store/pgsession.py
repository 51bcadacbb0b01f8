"""psycopg sessions for the PostgreSQL store and its listener.

What a session starts with (keepalives, its name, time bounds), and how to tell
a lost connection, after which the server rolls back what it had not
committed, from a statement that failed.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import PoolTimeout

from rollsafe.errors import StoreError
from rollsafe.support.redaction import AMBIGUOUS, UNPARSABLE, ambiguous_credentials

_LOST_STATES = {"57P01", "57P02", "57P03"}  # admin/crash shutdown, cannot connect now


def connection_info(url: str, *, application_name: str, connect_timeout: float) -> str:
    """``url`` as a libpq conninfo, with rollsafe's session defaults where it sets none.

    TCP keepalives make a connection to a vanished server (or through a dropped
    NAT entry) fail within about 25 seconds instead of hanging until the kernel
    gives up; the application name tells rollsafe's sessions apart in
    ``pg_stat_activity``. Raises `StoreError` for a malformed URL.
    """
    params = parsed(url)
    defaults: dict[str, Any] = {
        "application_name": application_name,
        "connect_timeout": max(1, round(connect_timeout)),
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }
    extra = {key: value for key, value in defaults.items() if key not in params}
    return make_conninfo(url, **extra)


def configure(conn: psycopg.Connection[Any]) -> None:
    """Session bounds: a transaction stranded by a lost client frees the head lock in 30s,
    well before writers waiting for that lock give up (60s)."""
    conn.execute("SET idle_in_transaction_session_timeout = '30s'")
    conn.execute("SET lock_timeout = '60s'")


def rollback(conn: psycopg.Connection[Any]) -> None:
    if conn.broken or conn.closed:
        return
    try:
        conn.execute("ROLLBACK")
    except psycopg.Error:
        conn.close()  # the pool replaces it


def sqlstate(error: BaseException) -> str:
    return getattr(error, "sqlstate", None) or ""


def lost(conn: psycopg.Connection[Any], error: BaseException) -> bool:
    """The connection is gone: the server rolls back whatever it had not committed."""
    return conn.broken or conn.closed or is_connection_error(error)


def is_connection_error(error: BaseException) -> bool:
    if isinstance(error, PoolTimeout):
        return True
    state = sqlstate(error)
    if state:
        return state.startswith("08") or state in _LOST_STATES
    # Failures to connect carry no SQLSTATE (refused, reset, DNS, the server starting up).
    return isinstance(error, psycopg.OperationalError)


def parsed(url: str) -> dict[str, str]:
    """libpq's parameters of ``url``; StoreError for a malformed one, which is never quoted:
    libpq's message repeats the text, password and all."""
    if ambiguous_credentials(url):
        raise StoreError(AMBIGUOUS)
    try:
        return {key: str(value) for key, value in conninfo_to_dict(url).items()}
    except psycopg.Error:
        raise StoreError(UNPARSABLE) from None
