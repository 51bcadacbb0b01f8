"""PostgreSQL backend of the Store: shared by several controllers, behaviour of SqliteStore.

Every write transaction starts by locking the journal head row
(``SELECT ... FOR UPDATE``), the analogue of SQLite's ``BEGIN IMMEDIATE``:
writers from any number of processes and hosts run one at a time, each sees
everything committed before it, the journal chain can never fork, and with
one lock taken first there is no lock-order deadlock.

Lost connections are retried with exponential backoff, and a write is never
applied twice: a transaction that failed before its ``COMMIT`` was sent surely
did not commit and is run again; one whose ``COMMIT`` got no answer is looked
up by the token it wrote (after waiting on the head lock, so it is surely
finished) and run again only if it is not there. When the retries run out on
such a transient cause, `StoreUnavailableError` (a `TemporaryError`) says so:
the controller retries the step instead of failing it. Other errors are a
plain, permanent `StoreError`.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, LiteralString, TypeVar

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from rollsafe.errors import StoreError, StoreUnavailableError
from rollsafe.journal import (
    GENESIS_HASH,
    JournalEntry,
    VerifyResult,
    canonical_json,
    verify_chain,
)
from rollsafe.store import rows as record
from rollsafe.store.pgsession import (
    configure,
    connection_info,
    is_connection_error,
    lost,
    parsed,
    rollback,
    sqlstate,
)
from rollsafe.store.ruled import RuledStore, refuse_newer_schema
from rollsafe.store.rules import journaling
from rollsafe.store.transaction import Reader, Transaction, found
from rollsafe.support.redaction import url_without_secrets

T = TypeVar("T")
Row = dict[str, Any]
Cursor = psycopg.Cursor[DictRow]

# Each entry upgrades the schema by one version (table schema_version); never edit a shipped one.
# The first is the whole schema of SqliteStore's migrations as of its version 2.
MIGRATIONS: list[tuple[LiteralString, ...]] = [
    (
        """CREATE TABLE rollouts (
            id TEXT PRIMARY KEY,
            service TEXT NOT NULL,
            plan_path TEXT NOT NULL,
            plan_text TEXT NOT NULL,
            state TEXT NOT NULL,
            step_index INTEGER NOT NULL DEFAULT 0,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            owner TEXT,
            lease_until DOUBLE PRECISION,
            requested TEXT,
            reason TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX rollouts_created ON rollouts(created_at)",
        """CREATE TABLE steps (
            rollout_id TEXT NOT NULL REFERENCES rollouts(id),
            idx INTEGER NOT NULL,
            kind TEXT NOT NULL,
            spec TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            started_at DOUBLE PRECISION,
            ended_at DOUBLE PRECISION,
            result TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (rollout_id, idx)
        )""",
        """CREATE TABLE environments (
            name TEXT PRIMARY KEY,
            created_at DOUBLE PRECISION NOT NULL,
            created_by TEXT NOT NULL
        )""",
        "INSERT INTO environments VALUES ('default', 0, 'schema')",
        """CREATE TABLE flags (
            environment TEXT NOT NULL REFERENCES environments(name),
            name TEXT NOT NULL,
            definition TEXT,
            version BIGINT NOT NULL,
            revision BIGINT NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            updated_by TEXT NOT NULL,
            PRIMARY KEY (environment, name)
        )""",
        "CREATE INDEX flags_by_revision ON flags(revision)",
        """CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            scope TEXT NOT NULL,
            environment TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            created_by TEXT NOT NULL,
            revoked_at DOUBLE PRECISION
        )""",
        """CREATE TABLE backups (
            id TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            kind TEXT NOT NULL,
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size BIGINT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            rollout_id TEXT,
            manifest TEXT NOT NULL
        )""",
        # data is the canonical JSON text the hash covers, stored verbatim (not jsonb).
        """CREATE TABLE journal (
            seq BIGINT PRIMARY KEY,
            ts DOUBLE PRECISION NOT NULL,
            kind TEXT NOT NULL,
            actor TEXT NOT NULL,
            rollout_id TEXT,
            data TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )""",
        "CREATE INDEX journal_rollout ON journal(rollout_id, seq)",
        # The head row exists from the start: every write transaction locks it first.
        """CREATE TABLE journal_head (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            seq BIGINT NOT NULL,
            hash TEXT NOT NULL
        )""",
        f"INSERT INTO journal_head VALUES (1, 0, '{GENESIS_HASH}')",  # noqa: S608 - a constant
        "CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
        "INSERT INTO counters VALUES ('flags_revision', 0)",
        # One row per committed write, so a COMMIT whose answer was lost can be looked up.
        """CREATE TABLE write_tokens (
            token TEXT PRIMARY KEY,
            at DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX write_tokens_at ON write_tokens(at)",
    ),
    # Which router fronts the instances under each process target root.
    (
        """CREATE TABLE routers (
            root TEXT PRIMARY KEY,
            service TEXT NOT NULL,
            kind TEXT NOT NULL,
            home TEXT NOT NULL,
            config TEXT NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            updated_by TEXT NOT NULL
        )""",
    ),
    # What Unleash SDKs report (see SqliteStore's migration of the same tables).
    (
        """CREATE TABLE client_applications (
            app_name TEXT NOT NULL,
            instance_id TEXT NOT NULL,
            environment TEXT NOT NULL,
            sdk_version TEXT NOT NULL,
            strategies TEXT NOT NULL,
            started TEXT NOT NULL,
            interval_ms BIGINT,
            platform TEXT NOT NULL,
            token_name TEXT NOT NULL,
            first_seen DOUBLE PRECISION NOT NULL,
            last_seen DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (app_name, instance_id)
        )""",
        "CREATE INDEX client_applications_seen ON client_applications(last_seen)",
        """CREATE TABLE client_metrics (
            environment TEXT NOT NULL,
            toggle TEXT NOT NULL,
            app_name TEXT NOT NULL,
            window_start DOUBLE PRECISION NOT NULL,
            yes_count BIGINT NOT NULL,
            no_count BIGINT NOT NULL,
            variants TEXT NOT NULL,
            PRIMARY KEY (environment, toggle, app_name, window_start)
        )""",
        "CREATE INDEX client_metrics_window ON client_metrics(window_start)",
        """CREATE TABLE impact_metrics (
            environment TEXT NOT NULL,
            name TEXT NOT NULL,
            labels TEXT NOT NULL,
            window_start DOUBLE PRECISION NOT NULL,
            kind TEXT NOT NULL,
            help TEXT NOT NULL,
            value DOUBLE PRECISION NOT NULL,
            count BIGINT NOT NULL,
            total DOUBLE PRECISION NOT NULL,
            buckets TEXT NOT NULL,
            PRIMARY KEY (environment, name, labels, window_start)
        )""",
        "CREATE INDEX impact_metrics_window ON impact_metrics(window_start)",
    ),
]

SCHEMA_VERSION = len(MIGRATIONS)
FLAGS_CHANNEL = "rollsafe_flags"
"""Every flag write NOTIFYs this channel with the new flags revision, on commit."""
WRITE_TOKEN_TTL = 24 * 3600.0
"""How long a write's token is kept to resolve a COMMIT whose answer was lost."""
_ABORTED_STATES = {"40001", "40P01"}  # serialization failure, deadlock: rolled back


class _RetryError(Exception):
    """This attempt surely did not commit; run the transaction again."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _CommitLostError(Exception):
    """The connection was lost during COMMIT: the write may or may not have committed."""

    def __init__(self, cause: BaseException, outcome: Any) -> None:
        super().__init__(str(cause))
        self.cause, self.outcome = cause, outcome


class _Transaction:
    """The rules' `Transaction` on one psycopg cursor: ``?`` placeholders become ``%s``."""

    def __init__(self, cursor: Cursor, head: Row | None = None) -> None:
        self.cursor = cursor
        # Read while locking it, first thing in a write: kept here rather than read again.
        self.head = (head["seq"], head["hash"]) if head else (0, GENESIS_HASH)

    def _run(self, sql: str, params: tuple[Any, ...]) -> Cursor:
        # The rules' SQL is constant text (LiteralString to psycopg) with no literal "%" or "?":
        # only the placeholders change.
        return self.cursor.execute(sql.replace("?", "%s"), params)

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> Row | None:
        return self._run(sql, params).fetchone()

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        return self._run(sql, params).fetchall()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return self._run(sql, params).rowcount

    def journal(
        self, kind: str, data: Mapping[str, Any], *, actor: str, rollout_id: str | None
    ) -> JournalEntry:
        text = canonical_json(data)
        entry = journaling.append(self, self.head, kind, text, actor=actor, rollout_id=rollout_id)
        self.head = (entry.seq, entry.hash)
        return entry

    def now(self) -> float:
        """The server's clock: one clock for controllers on many hosts."""
        row = self.cursor.execute("SELECT extract(epoch FROM clock_timestamp())::float8 AS now")
        return float(found(row.fetchone())["now"])

    def flags_changed(self, revision: int) -> None:
        # Delivered on commit only: replicas LISTENing re-read flag_changes(after their revision).
        self.cursor.execute("SELECT pg_notify(%s, %s)", (FLAGS_CHANNEL, str(revision)))


class PostgresStore(RuledStore):
    """The scale-out store: one PostgreSQL database (or schema) shared by many controllers.

    ``url`` is a libpq URL or conninfo; its ``options`` may set ``search_path`` to
    keep rollsafe in its own schema. Connections come from a pool of at most
    ``max_size``; a lost connection is retried up to ``retries`` times with
    exponential backoff from ``backoff`` seconds (capped at ``max_backoff``).
    """

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 4,
        connect_timeout: float = 5.0,
        retries: int = 5,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        application_name: str = "rollsafe",
    ) -> None:
        params = parsed(url)
        self.url = url
        self.where = url_without_secrets(params)
        self._retries, self._backoff, self._max_backoff = retries, backoff, max_backoff
        self._connect_timeout = connect_timeout
        self._conninfo = connection_info(
            url, application_name=application_name, connect_timeout=connect_timeout
        )
        self._closed = threading.Event()
        # No checkout check: a stale connection fails its first statement, the retry below
        # then purges the pool's other stale ones at once (the pool's own check backs off 1s).
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            self._conninfo,
            kwargs={"autocommit": True},
            min_size=min_size,
            max_size=max_size,
            open=False,
            configure=configure,
            timeout=connect_timeout,
            name=f"rollsafe-{self.where}",
        )
        self._with_retries(self._migrate, "open")
        self._pool.open(wait=False)

    @property
    def address(self) -> str:
        return self.url

    # -- plumbing ---------------------------------------------------------

    def _migrate(self) -> None:
        with psycopg.connect(self._conninfo, autocommit=True) as conn:
            cursor = conn.cursor(row_factory=dict_row)
            cursor.execute("BEGIN")
            try:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(current_schema()), 1919904876)"
                )
                cursor.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version"
                    " (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)"
                )
                cursor.execute("INSERT INTO schema_version VALUES (1, 0) ON CONFLICT DO NOTHING")
                row = cursor.execute("SELECT version FROM schema_version WHERE id = 1").fetchone()
                version = int(row["version"]) if row else 0
                refuse_newer_schema(self.where, version, SCHEMA_VERSION)
                for number in range(version, SCHEMA_VERSION):
                    for statement in MIGRATIONS[number]:
                        cursor.execute(statement)
                    cursor.execute("UPDATE schema_version SET version = %s", (number + 1,))
                cursor.execute("COMMIT")
            except BaseException:
                if not conn.broken:
                    cursor.execute("ROLLBACK")
                raise

    def _with_retries(self, action: Callable[[], T], what: str) -> T:
        """Run ``action`` again after a lost connection, with exponential backoff and jitter."""
        delay = self._backoff
        for attempt in range(self._retries + 1):
            try:
                return action()
            except _RetryError as retry:
                cause: BaseException = retry.cause
            except (psycopg.OperationalError, PoolTimeout) as error:
                if not is_connection_error(error):
                    raise StoreError(f"cannot {what} {self.where}: {error}") from error
                cause = error
            except psycopg.Error as error:
                raise StoreError(f"cannot {what} {self.where}: {error}") from error
            if self._closed.is_set():
                raise StoreError(f"cannot {what} {self.where}: the store is closed") from cause
            if not self._pool.closed:
                self._pool.check()  # replace every other connection the server dropped
            if attempt == self._retries:
                # Every cause that reaches here clears by itself (a lost or refused connection,
                # an exhausted pool, a serialization failure): transient, so the controller
                # runs the step again (controller/retries.py) rather than rolling back.
                raise StoreUnavailableError(
                    f"cannot {what} {self.where} after {attempt + 1} attempts: {cause}",
                    delay=self._max_backoff,
                ) from cause
            time.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self._max_backoff)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        if self._closed.is_set():
            raise StoreError(f"the store {self.where} is closed")
        connection = self._pool.getconn()
        try:
            yield connection
        finally:
            self._pool.putconn(connection)

    def _write(self, body: Callable[[Transaction], T]) -> T:
        """Run ``body`` in one transaction holding the journal head; commit it exactly once."""
        return self._with_retries(lambda: self._attempt(body), "write to")

    def _attempt(self, body: Callable[[Transaction], T]) -> T:
        token = secrets.token_hex(16)
        try:
            return self._run_once(body, token)
        except _CommitLostError as unanswered:
            # Checked on another connection, once the lost one is back with the pool.
            if self._committed(token):
                return unanswered.outcome  # type: ignore[no-any-return]
            raise _RetryError(unanswered.cause) from unanswered.cause

    def _run_once(self, body: Callable[[Transaction], T], token: str) -> T:
        with self._connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            committing, outcome = False, list[T]()
            try:
                cursor.execute("BEGIN")
                head = cursor.execute(
                    "SELECT seq, hash FROM journal_head WHERE id = 1 FOR UPDATE"
                ).fetchone()
                now = time.time()
                cursor.execute("INSERT INTO write_tokens (token, at) VALUES (%s, %s)", (token, now))
                cursor.execute("DELETE FROM write_tokens WHERE at < %s", (now - WRITE_TOKEN_TTL,))
                outcome.append(body(_Transaction(cursor, head)))
                committing = True
                self._commit(conn)
                return outcome[0]
            except psycopg.Error as error:
                if lost(conn, error):
                    if committing:
                        raise _CommitLostError(error, outcome[0]) from error
                    raise _RetryError(error) from error  # before COMMIT: surely rolled back
                rollback(conn)
                if sqlstate(error) in _ABORTED_STATES:
                    raise _RetryError(error) from error
                verb = "commit to" if committing else "write to"
                raise StoreError(f"cannot {verb} {self.where}: {error}") from error
            except BaseException:
                rollback(conn)
                raise

    def _commit(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute("COMMIT")

    def _committed(self, token: str) -> bool:
        """Whether the write that left ``token`` committed; waits until it surely finished.

        A transaction holds the head lock until it commits or rolls back, so once
        this lookup holds the lock, that transaction's outcome is final.
        """

        def lookup() -> bool:
            with self._connection() as conn:
                cursor = conn.cursor(row_factory=dict_row)
                try:
                    cursor.execute("BEGIN")
                    cursor.execute("SET LOCAL lock_timeout = '60s'")
                    cursor.execute("SELECT 1 FROM journal_head WHERE id = 1 FOR UPDATE")
                    row = cursor.execute(
                        "SELECT 1 AS found FROM write_tokens WHERE token = %s", (token,)
                    ).fetchone()
                    cursor.execute("ROLLBACK")
                except psycopg.Error as error:
                    if lost(conn, error):
                        raise _RetryError(error) from error
                    rollback(conn)
                    raise
                return row is not None

        try:
            return self._with_retries(lookup, "check a write to")
        except StoreError as error:
            raise StoreError(
                f"the outcome of a write to {self.where} is unknown (the connection was lost"
                f" during COMMIT and it could not be checked); see the journal: {error}"
            ) from error

    def _read(self, body: Callable[[Reader], T]) -> T:
        def attempt() -> T:
            with self._connection() as conn:
                try:
                    return body(_Transaction(conn.cursor(row_factory=dict_row)))
                except psycopg.Error as error:
                    if lost(conn, error):
                        raise _RetryError(error) from error
                    raise

        return self._with_retries(attempt, "read")

    def verify_journal(self) -> VerifyResult:
        """Check the whole chain against the head, both read from one snapshot."""

        def attempt() -> VerifyResult:
            with self._connection() as conn:
                try:
                    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    head_row = (
                        conn.cursor(row_factory=dict_row)
                        .execute("SELECT seq, hash FROM journal_head WHERE id = 1")
                        .fetchone()
                    )
                    head = (head_row["seq"], head_row["hash"]) if head_row else None
                    with conn.cursor("rollsafe_verify", row_factory=dict_row) as cursor:
                        cursor.itersize = 1000
                        cursor.execute("SELECT * FROM journal ORDER BY seq")
                        result = verify_chain((record.entry(row) for row in cursor), head)
                    conn.execute("COMMIT")
                    return result
                except psycopg.Error as error:
                    if lost(conn, error):
                        raise _RetryError(error) from error
                    rollback(conn)
                    raise

        return self._with_retries(attempt, "read the journal in")

    def close(self) -> None:
        self._closed.set()
        self._pool.close()
