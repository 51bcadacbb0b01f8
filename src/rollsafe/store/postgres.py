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
finished) and run again only if it is not there.
"""

from __future__ import annotations

import dataclasses
import json
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, LiteralString, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from rollsafe.errors import ConflictError, NotFoundError, StoreError
from rollsafe.journal import (
    GENESIS_HASH,
    JournalEntry,
    VerifyResult,
    canonical_json,
    entry_hash,
    verify_chain,
)
from rollsafe.store import rows as record
from rollsafe.store.records import (
    DEFAULT_ENVIRONMENT,
    BackupRecord,
    EnvironmentRecord,
    FlagChange,
    FlagRecord,
    Rollout,
    RolloutState,
    RouterRecord,
    StepRecord,
    StepState,
    TokenRecord,
    TokenScope,
)
from rollsafe.store.rules.flags import ENVIRONMENT_NAME
from rollsafe.support.redaction import (
    AMBIGUOUS,
    UNPARSABLE,
    ambiguous_credentials,
    url_without_secrets,
)

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
]

SCHEMA_VERSION = len(MIGRATIONS)
FLAGS_CHANNEL = "rollsafe_flags"
"""Every flag write NOTIFYs this channel with the new flags revision, on commit."""
WRITE_TOKEN_TTL = 24 * 3600.0
"""How long a write's token is kept to resolve a COMMIT whose answer was lost."""
_LOST_STATES = {"57P01", "57P02", "57P03"}  # admin/crash shutdown, cannot connect now
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
    """One write transaction: its cursor and the journal head it holds locked."""

    def __init__(self, cursor: Cursor, head: Row | None) -> None:
        self.cursor = cursor
        self.seq: int = head["seq"] if head else 0
        self.hash: str = head["hash"] if head else GENESIS_HASH

    def execute(self, sql: LiteralString, params: tuple[Any, ...] = ()) -> Cursor:
        return self.cursor.execute(sql, params)

    def one(self, sql: LiteralString, params: tuple[Any, ...] = ()) -> Row | None:
        return self.cursor.execute(sql, params).fetchone()

    def journal(
        self, kind: str, data: dict[str, Any], *, actor: str, rollout_id: str | None
    ) -> JournalEntry:
        # Round-trip the data through canonical JSON so the hash covers exactly what is stored.
        text = canonical_json(data)
        entry = JournalEntry(
            seq=self.seq + 1,
            ts=time.time(),
            kind=kind,
            actor=actor,
            rollout_id=rollout_id,
            data=json.loads(text),
            prev_hash=self.hash,
            hash="",
        )
        digest = entry_hash(self.hash, entry.body())
        self.execute(
            "INSERT INTO journal (seq, ts, kind, actor, rollout_id, data, prev_hash, hash)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (entry.seq, entry.ts, kind, actor, rollout_id, text, self.hash, digest),
        )
        self.execute(
            "INSERT INTO journal_head (id, seq, hash) VALUES (1, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            (entry.seq, digest),
        )
        self.seq, self.hash = entry.seq, digest
        return dataclasses.replace(entry, hash=digest)


class PostgresStore:
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
        params = _parsed(url)
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
            configure=_configure,
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
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"{self.where} has schema version {version}, newer than this rollsafe "
                        f"understands ({SCHEMA_VERSION}); upgrade rollsafe"
                    )
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
                if not _is_connection_error(error):
                    raise StoreError(f"cannot {what} {self.where}: {error}") from error
                cause = error
            except psycopg.Error as error:
                raise StoreError(f"cannot {what} {self.where}: {error}") from error
            if attempt == self._retries or self._closed.is_set():
                raise StoreError(
                    f"cannot {what} {self.where} after {attempt + 1} attempts: {cause}"
                ) from cause
            if not self._pool.closed:
                self._pool.check()  # replace every other connection the server dropped
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

    def _write(self, body: Callable[[_Transaction], T]) -> T:
        """Run ``body`` in one transaction holding the journal head; commit it exactly once."""
        return self._with_retries(lambda: self._attempt(body), "write to")

    def _attempt(self, body: Callable[[_Transaction], T]) -> T:
        token = secrets.token_hex(16)
        try:
            return self._run_once(body, token)
        except _CommitLostError as lost:
            # Checked on another connection, once the lost one is back with the pool.
            if self._committed(token):
                return lost.outcome  # type: ignore[no-any-return]
            raise _RetryError(lost.cause) from lost.cause

    def _run_once(self, body: Callable[[_Transaction], T], token: str) -> T:
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
                if _lost(conn, error):
                    if committing:
                        raise _CommitLostError(error, outcome[0]) from error
                    raise _RetryError(error) from error  # before COMMIT: surely rolled back
                _rollback(conn)
                if _sqlstate(error) in _ABORTED_STATES:
                    raise _RetryError(error) from error
                verb = "commit to" if committing else "write to"
                raise StoreError(f"cannot {verb} {self.where}: {error}") from error
            except BaseException:
                _rollback(conn)
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
                    if _lost(conn, error):
                        raise _RetryError(error) from error
                    _rollback(conn)
                    raise
                return row is not None

        try:
            return self._with_retries(lookup, "check a write to")
        except StoreError as error:
            raise StoreError(
                f"the outcome of a write to {self.where} is unknown (the connection was lost"
                f" during COMMIT and it could not be checked); see the journal: {error}"
            ) from error

    def _read(self, sql: LiteralString, params: tuple[Any, ...] = ()) -> list[Row]:
        def attempt() -> list[Row]:
            with self._connection() as conn:
                try:
                    return conn.cursor(row_factory=dict_row).execute(sql, params).fetchall()
                except psycopg.Error as error:
                    if _lost(conn, error):
                        raise _RetryError(error) from error
                    raise

        return self._with_retries(attempt, "read")

    # -- rollouts ---------------------------------------------------------

    def create_rollout(
        self,
        *,
        service: str,
        plan_path: str,
        plan_text: str,
        steps: list[tuple[str, dict[str, Any]]],
        actor: str,
    ) -> Rollout:
        rollout_id = f"ro-{time.strftime('%Y%m%d')}-{secrets.token_hex(3)}"
        now = time.time()

        def body(tx: _Transaction) -> None:
            tx.execute(
                "INSERT INTO rollouts (id, service, plan_path, plan_text, state, created_at,"
                " updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (rollout_id, service, plan_path, plan_text, RolloutState.PENDING.value, now, now),
            )
            tx.cursor.executemany(
                "INSERT INTO steps (rollout_id, idx, kind, spec, state)"
                " VALUES (%s, %s, %s, %s, %s)",
                [
                    (rollout_id, index, kind, canonical_json(spec), StepState.PENDING.value)
                    for index, (kind, spec) in enumerate(steps)
                ],
            )
            tx.journal(
                "rollout.created",
                {
                    "service": service,
                    "plan_path": plan_path,
                    "steps": [{"kind": kind, **spec} for kind, spec in steps],
                },
                actor=actor,
                rollout_id=rollout_id,
            )

        self._write(body)
        return self.get_rollout(rollout_id)

    def get_rollout(self, rollout_id: str) -> Rollout:
        rows = self._read("SELECT * FROM rollouts WHERE id = %s", (rollout_id,))
        if not rows:
            raise NotFoundError(f"no rollout {rollout_id!r}")
        return record.rollout(rows[0])

    def list_rollouts(self, limit: int = 50) -> list[Rollout]:
        rows = self._read(
            'SELECT * FROM rollouts ORDER BY created_at DESC, id COLLATE "C" LIMIT %s', (limit,)
        )
        return [record.rollout(row) for row in rows]

    def steps(self, rollout_id: str) -> list[StepRecord]:
        self.get_rollout(rollout_id)
        rows = self._read("SELECT * FROM steps WHERE rollout_id = %s ORDER BY idx", (rollout_id,))
        return [record.step(row) for row in rows]

    def set_step_state(
        self,
        rollout_id: str,
        index: int,
        state: StepState,
        *,
        result: dict[str, Any] | None = None,
        actor: str,
    ) -> StepRecord:
        def body(tx: _Transaction) -> StepRecord:
            now = time.time()
            select: LiteralString = "SELECT * FROM steps WHERE rollout_id = %s AND idx = %s"
            row = tx.one(select, (rollout_id, index))
            if row is None:
                raise NotFoundError(f"rollout {rollout_id!r} has no step {index}")
            step = record.step(row)
            attempts = step.attempts + (1 if state is StepState.RUNNING else 0)
            started_at = now if state is StepState.RUNNING else step.started_at
            ended_at = now if state in (StepState.SUCCEEDED, StepState.FAILED) else None
            result_text = canonical_json(result if result is not None else step.result)
            tx.execute(
                "UPDATE steps SET state = %s, attempts = %s, started_at = %s, ended_at = %s,"
                " result = %s WHERE rollout_id = %s AND idx = %s",
                (state.value, attempts, started_at, ended_at, result_text, rollout_id, index),
            )
            if state is StepState.RUNNING:
                tx.execute(
                    "UPDATE rollouts SET step_index = %s, updated_at = %s WHERE id = %s",
                    (index, now, rollout_id),
                )
            data: dict[str, Any] = {"index": index, "kind": step.kind, "attempt": attempts}
            if state is StepState.RUNNING:
                data["spec"] = step.spec
            if result is not None:
                data["result"] = result
            tx.journal(f"step.{state}", data, actor=actor, rollout_id=rollout_id)
            return record.step(_found(tx.one(select, (rollout_id, index))))

        return self._write(body)

    def set_rollout_state(
        self,
        rollout_id: str,
        state: RolloutState,
        *,
        actor: str,
        reason: str = "",
        step_index: int | None = None,
        expected: set[RolloutState] | None = None,
    ) -> Rollout:
        def body(tx: _Transaction) -> None:
            row = tx.one("SELECT * FROM rollouts WHERE id = %s", (rollout_id,))
            if row is None:
                raise NotFoundError(f"no rollout {rollout_id!r}")
            current = RolloutState(row["state"])
            if expected is not None and current not in expected:
                allowed = ", ".join(sorted(expected))
                raise ConflictError(
                    f"rollout {rollout_id} is {current}, not {allowed}; nothing was changed"
                )
            index = row["step_index"] if step_index is None else step_index
            requested = None if state.is_final else row["requested"]
            tx.execute(
                "UPDATE rollouts SET state = %s, reason = %s, step_index = %s, updated_at = %s,"
                " requested = %s WHERE id = %s",
                (state.value, reason, index, time.time(), requested, rollout_id),
            )
            data: dict[str, Any] = {"from": current, "to": state, "step_index": index}
            if reason:
                data["reason"] = reason
            tx.journal(f"rollout.{state}", data, actor=actor, rollout_id=rollout_id)

        self._write(body)
        return self.get_rollout(rollout_id)

    def request(
        self, rollout_id: str, command: str | None, *, actor: str, reason: str = ""
    ) -> Rollout:
        """Leave ``pause``, ``abort`` or ``rollback`` for the owner (None clears it)."""

        def body(tx: _Transaction) -> None:
            row = tx.one("SELECT state, reason FROM rollouts WHERE id = %s", (rollout_id,))
            if row is None:
                raise NotFoundError(f"no rollout {rollout_id!r}")
            if RolloutState(row["state"]).is_final and command is not None:
                raise ConflictError(f"rollout {rollout_id} is already {row['state']}")
            tx.execute(
                "UPDATE rollouts SET requested = %s, updated_at = %s, reason = %s WHERE id = %s",
                (command, time.time(), reason or row["reason"], rollout_id),
            )
            kind = f"rollout.{command}_requested" if command else "rollout.request_cleared"
            data = {"reason": reason} if reason else {}
            tx.journal(kind, data, actor=actor, rollout_id=rollout_id)

        self._write(body)
        return self.get_rollout(rollout_id)

    def acquire_lease(
        self, rollout_id: str, owner: str, ttl: float, *, take_over_from: str | None = None
    ) -> bool:
        """Claim or renew; a live lease of another owner is taken only if it is ``take_over_from``.

        The check and the write share one transaction, serialised with every other
        write, so of two controllers taking over from the same dead owner only the
        first succeeds. Expiry is judged by the database server's clock, one clock
        for controllers on many hosts.
        """

        def body(tx: _Transaction) -> bool:
            clock = _found(tx.one("SELECT extract(epoch FROM clock_timestamp())::float8 AS now"))
            now = float(clock["now"])
            row = tx.one("SELECT owner, lease_until FROM rollouts WHERE id = %s", (rollout_id,))
            if row is None:
                raise NotFoundError(f"no rollout {rollout_id!r}")
            current = row["owner"]
            held_by_other = current not in (None, owner) and (row["lease_until"] or 0.0) > now
            if held_by_other and current != take_over_from:
                return False
            tx.execute(
                "UPDATE rollouts SET owner = %s, lease_until = %s WHERE id = %s",
                (owner, now + ttl, rollout_id),
            )
            if current != owner:
                tx.journal(
                    "rollout.lease_acquired",
                    {"owner": owner, "previous_owner": current, "taken_over": held_by_other},
                    actor=owner,
                    rollout_id=rollout_id,
                )
            return True

        return self._write(body)

    def release_lease(self, rollout_id: str, owner: str) -> None:
        self._write(
            lambda tx: tx.execute(
                "UPDATE rollouts SET owner = NULL, lease_until = NULL WHERE id = %s AND owner = %s",
                (rollout_id, owner),
            )
        )

    # -- flags ------------------------------------------------------------

    def list_flags(self, environment: str = DEFAULT_ENVIRONMENT) -> list[FlagRecord]:
        rows = self._read(
            "SELECT * FROM flags WHERE environment = %s AND definition IS NOT NULL"
            ' ORDER BY name COLLATE "C"',
            (environment,),
        )
        return [record.flag(row) for row in rows]

    def get_flag(self, name: str, environment: str = DEFAULT_ENVIRONMENT) -> FlagRecord:
        rows = self._read(
            "SELECT * FROM flags WHERE environment = %s AND name = %s AND definition IS NOT NULL",
            (environment, name),
        )
        if not rows:
            raise NotFoundError(f"no flag {name!r}{record.in_environment(environment)}")
        return record.flag(rows[0])

    def put_flag(
        self,
        name: str,
        definition: dict[str, Any],
        *,
        actor: str,
        expected_version: int | None = None,
        rollout_id: str | None = None,
        environment: str = DEFAULT_ENVIRONMENT,
    ) -> FlagRecord:
        def body(tx: _Transaction) -> None:
            _check_environment(tx, environment)
            revision = _next_flags_revision(tx)
            _put_flag(
                tx, environment, name, definition, revision,
                actor=actor, expected_version=expected_version, rollout_id=rollout_id,
            )  # fmt: skip

        self._write(body)
        return self.get_flag(name, environment)

    def put_flags(
        self,
        definitions: Mapping[str, dict[str, Any]],
        *,
        actor: str,
        environment: str = DEFAULT_ENVIRONMENT,
    ) -> list[FlagRecord]:
        """Write several flags (name to definition) in one transaction: all or none."""

        def body(tx: _Transaction) -> None:
            _check_environment(tx, environment)
            revision = _next_flags_revision(tx)
            for name, definition in definitions.items():
                _put_flag(tx, environment, name, definition, revision, actor=actor)

        self._write(body)
        return [self.get_flag(name, environment) for name in definitions]

    def delete_flag(
        self,
        name: str,
        *,
        actor: str,
        expected_version: int | None = None,
        environment: str = DEFAULT_ENVIRONMENT,
    ) -> None:
        """Delete a flag, keeping a tombstone so change feeds report the deletion."""

        def body(tx: _Transaction) -> None:
            row = tx.one(
                "SELECT * FROM flags WHERE environment = %s AND name = %s", (environment, name)
            )
            if row is None or row["definition"] is None:
                raise NotFoundError(f"no flag {name!r}{record.in_environment(environment)}")
            version = row["version"]
            if expected_version is not None and expected_version != version:
                raise ConflictError(
                    f"flag {name!r}{record.in_environment(environment)} is at version "
                    f"{version}, not {expected_version}; reload it and try again"
                )
            revision = _next_flags_revision(tx)
            tx.execute(
                "UPDATE flags SET definition = NULL, version = %s, revision = %s,"
                " updated_at = %s, updated_by = %s WHERE environment = %s AND name = %s",
                (version + 1, revision, time.time(), actor, environment, name),
            )
            data: dict[str, Any] = {
                "name": name,
                "version": version + 1,
                "before": json.loads(row["definition"]),
            }
            if environment != DEFAULT_ENVIRONMENT:
                data["environment"] = environment
            tx.journal("flag.deleted", data, actor=actor, rollout_id=None)

        self._write(body)

    def flags_revision(self) -> int:
        rows = self._read("SELECT value FROM counters WHERE name = 'flags_revision'")
        return int(rows[0]["value"])

    def flag_changes(self, after_revision: int = 0) -> list[FlagChange]:
        """The latest state of every flag changed after ``after_revision``, deletions included.

        Ordered by revision; several changes of one flag since then show as its latest.
        """
        rows = self._read(
            "SELECT * FROM flags WHERE revision > %s"
            ' ORDER BY revision, environment COLLATE "C", name COLLATE "C"',
            (after_revision,),
        )
        return [record.flag_change(row) for row in rows]

    # -- environments -----------------------------------------------------

    def list_environments(self) -> list[EnvironmentRecord]:
        rows = self._read('SELECT * FROM environments ORDER BY name COLLATE "C"')
        return [EnvironmentRecord(r["name"], r["created_at"], r["created_by"]) for r in rows]

    def create_environment(self, name: str, *, actor: str) -> EnvironmentRecord:
        if not isinstance(name, str) or not ENVIRONMENT_NAME.fullmatch(name):
            raise StoreError(
                f"environment name {name!r} is invalid: use 1-64 of a-z, 0-9, '-', '_', '.',"
                " starting with a letter or digit"
            )
        now = time.time()

        def body(tx: _Transaction) -> None:
            if tx.one("SELECT 1 AS found FROM environments WHERE name = %s", (name,)):
                raise ConflictError(f"environment {name!r} already exists")
            tx.execute("INSERT INTO environments VALUES (%s, %s, %s)", (name, now, actor))
            tx.journal("environment.created", {"name": name}, actor=actor, rollout_id=None)

        self._write(body)
        return EnvironmentRecord(name, now, actor)

    # -- API tokens -------------------------------------------------------

    def add_token(self, record: TokenRecord, *, actor: str) -> None:
        def body(tx: _Transaction) -> None:
            if record.environment != "*":
                _check_environment(tx, record.environment)
            inserted = tx.one(
                "INSERT INTO api_tokens (id, name, scope, environment, sha256, created_at,"
                " created_by, revoked_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (id) DO NOTHING RETURNING id",
                (record.id, record.name, TokenScope(record.scope).value, record.environment,
                 record.sha256, record.created_at, record.created_by, record.revoked_at),
            )  # fmt: skip
            if inserted is None:
                raise ConflictError(f"token {record.id!r} already exists")
            tx.journal(
                "token.created",
                {"id": record.id, "name": record.name, "scope": record.scope,
                 "environment": record.environment},
                actor=actor,
                rollout_id=None,
            )  # fmt: skip

        self._write(body)

    def get_token(self, token_id: str) -> TokenRecord:
        rows = self._read("SELECT * FROM api_tokens WHERE id = %s", (token_id,))
        if not rows:
            raise NotFoundError(f"no token {token_id!r}")
        return record.token(rows[0])

    def list_tokens(self) -> list[TokenRecord]:
        return [
            record.token(row)
            for row in self._read('SELECT * FROM api_tokens ORDER BY created_at, id COLLATE "C"')
        ]

    def revoke_token(self, token_id: str, *, actor: str) -> TokenRecord:
        """Revoke a token for good; revoking a revoked token changes nothing."""

        def body(tx: _Transaction) -> None:
            row = tx.one("SELECT * FROM api_tokens WHERE id = %s", (token_id,))
            if row is None:
                raise NotFoundError(f"no token {token_id!r}")
            if row["revoked_at"] is None:
                tx.execute(
                    "UPDATE api_tokens SET revoked_at = %s WHERE id = %s", (time.time(), token_id)
                )
                tx.journal("token.revoked", {"id": token_id}, actor=actor, rollout_id=None)

        self._write(body)
        return self.get_token(token_id)

    # -- backups ----------------------------------------------------------

    def add_backup(self, record: BackupRecord, *, actor: str) -> None:
        def body(tx: _Transaction) -> None:
            tx.execute(
                "INSERT INTO backups (id, source, kind, path, sha256, size, created_at,"
                " rollout_id, manifest) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    record.id,
                    record.source,
                    record.kind,
                    record.path,
                    record.sha256,
                    record.size,
                    record.created_at,
                    record.rollout_id,
                    canonical_json(record.manifest),
                ),
            )
            tx.journal(
                "backup.created",
                {"id": record.id, "source": record.source, "sha256": record.sha256},
                actor=actor,
                rollout_id=record.rollout_id,
            )

        self._write(body)

    def list_backups(self, source: str | None = None) -> list[BackupRecord]:
        if source is None:
            rows = self._read('SELECT * FROM backups ORDER BY created_at DESC, id COLLATE "C"')
        else:
            rows = self._read(
                'SELECT * FROM backups WHERE source = %s ORDER BY created_at DESC, id COLLATE "C"',
                (source,),
            )
        return [record.backup(row) for row in rows]

    def get_backup(self, backup_id: str) -> BackupRecord:
        rows = self._read("SELECT * FROM backups WHERE id = %s", (backup_id,))
        if not rows:
            raise NotFoundError(f"no backup {backup_id!r}; see 'rollsafe backup list'")
        return record.backup(rows[0])

    def delete_backup(self, backup_id: str, *, actor: str, reason: str) -> None:
        def body(tx: _Transaction) -> None:
            row = tx.one("SELECT * FROM backups WHERE id = %s", (backup_id,))
            if row is None:
                raise NotFoundError(f"no backup {backup_id!r}")
            tx.execute("DELETE FROM backups WHERE id = %s", (backup_id,))
            tx.journal(
                "backup.deleted",
                {"id": backup_id, "source": row["source"], "reason": reason},
                actor=actor,
                rollout_id=row["rollout_id"],
            )

        self._write(body)

    # -- routers ----------------------------------------------------------

    def put_router(self, router: RouterRecord, *, actor: str) -> None:
        def body(tx: _Transaction) -> None:
            row = tx.one("SELECT * FROM routers WHERE root = %s", (router.root,))
            if row is not None and record.same_router(row, router):
                return
            tx.execute(
                "INSERT INTO routers (root, service, kind, home, config, updated_at, updated_by)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (root) DO UPDATE SET"
                " service = excluded.service, kind = excluded.kind, home = excluded.home,"
                " config = excluded.config, updated_at = excluded.updated_at,"
                " updated_by = excluded.updated_by",
                (
                    router.root,
                    router.service,
                    router.kind,
                    router.home,
                    canonical_json(router.config),
                    time.time(),
                    actor,
                ),
            )
            tx.journal("router.recorded", router.journal_data(), actor=actor, rollout_id=None)

        self._write(body)

    def get_router(self, root: str) -> RouterRecord | None:
        rows = self._read("SELECT * FROM routers WHERE root = %s", (root,))
        return record.router(rows[0]) if rows else None

    def delete_router(self, root: str, *, actor: str) -> None:
        def body(tx: _Transaction) -> None:
            if tx.execute("DELETE FROM routers WHERE root = %s", (root,)).rowcount:
                tx.journal("router.forgotten", {"root": root}, actor=actor, rollout_id=None)

        self._write(body)

    # -- journal ----------------------------------------------------------

    def append(
        self, kind: str, data: dict[str, Any], *, actor: str, rollout_id: str | None = None
    ) -> JournalEntry:
        return self._write(lambda tx: tx.journal(kind, data, actor=actor, rollout_id=rollout_id))

    def journal(self, rollout_id: str | None = None, after_seq: int = 0) -> list[JournalEntry]:
        if rollout_id is None:
            rows = self._read("SELECT * FROM journal WHERE seq > %s ORDER BY seq", (after_seq,))
        else:
            rows = self._read(
                "SELECT * FROM journal WHERE rollout_id = %s AND seq > %s ORDER BY seq",
                (rollout_id, after_seq),
            )
        return [record.entry(row) for row in rows]

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
                    if _lost(conn, error):
                        raise _RetryError(error) from error
                    _rollback(conn)
                    raise

        return self._with_retries(attempt, "read the journal in")

    def close(self) -> None:
        self._closed.set()
        self._pool.close()


# -- helpers shared by the transactions above -----------------------------


def _check_environment(tx: _Transaction, environment: str) -> None:
    if not tx.one("SELECT 1 AS found FROM environments WHERE name = %s", (environment,)):
        raise NotFoundError(f"no environment {environment!r}; create it first")


def _next_flags_revision(tx: _Transaction) -> int:
    row = _found(
        tx.one(
            "UPDATE counters SET value = value + 1 WHERE name = 'flags_revision' RETURNING value"
        )
    )
    revision = int(row["value"])
    # Delivered on commit only: replicas LISTENing re-read flag_changes(after their revision).
    tx.execute("SELECT pg_notify(%s, %s)", (FLAGS_CHANNEL, str(revision)))
    return revision


def _put_flag(
    tx: _Transaction,
    environment: str,
    name: str,
    definition: dict[str, Any],
    revision: int,
    *,
    actor: str,
    expected_version: int | None = None,
    rollout_id: str | None = None,
) -> None:
    row = tx.one("SELECT * FROM flags WHERE environment = %s AND name = %s", (environment, name))
    exists = row is not None and row["definition"] is not None
    version = row["version"] if row is not None and exists else 0
    if expected_version is not None and expected_version != version:
        raise ConflictError(
            f"flag {name!r}{record.in_environment(environment)} is at version {version}, not "
            f"{expected_version}; reload it and try again"
        )
    # A flag created again after a deletion continues its version sequence.
    new_version = (row["version"] if row is not None else 0) + 1
    before = json.loads(row["definition"]) if row is not None and exists else None
    tx.execute(
        "INSERT INTO flags (environment, name, definition, version, revision, updated_at,"
        " updated_by) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (environment, name)"
        " DO UPDATE SET definition = excluded.definition, version = excluded.version,"
        " revision = excluded.revision, updated_at = excluded.updated_at,"
        " updated_by = excluded.updated_by",
        (environment, name, canonical_json(definition), new_version, revision, time.time(),
         actor),
    )  # fmt: skip
    data: dict[str, Any] = {
        "name": name,
        "version": new_version,
        "before": before,
        "after": definition,
    }
    if environment != DEFAULT_ENVIRONMENT:
        data["environment"] = environment
    tx.journal("flag.changed", data, actor=actor, rollout_id=rollout_id)


def connection_info(url: str, *, application_name: str, connect_timeout: float) -> str:
    """``url`` as a libpq conninfo, with rollsafe's session defaults where it sets none.

    TCP keepalives make a connection to a vanished server (or through a dropped
    NAT entry) fail within about 25 seconds instead of hanging until the kernel
    gives up; the application name tells rollsafe's sessions apart in
    ``pg_stat_activity``. Raises `StoreError` for a malformed URL.
    """
    params = _parsed(url)
    defaults: dict[str, Any] = {
        "application_name": application_name,
        "connect_timeout": max(1, round(connect_timeout)),
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }
    extra = {key: value for key, value in defaults.items() if key not in params}
    return make_conninfo(url, **extra)


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Session bounds: a transaction stranded by a lost client frees the head lock in 30s,
    well before writers waiting for that lock give up (60s)."""
    conn.execute("SET idle_in_transaction_session_timeout = '30s'")
    conn.execute("SET lock_timeout = '60s'")


def _rollback(conn: psycopg.Connection[Any]) -> None:
    if conn.broken or conn.closed:
        return
    try:
        conn.execute("ROLLBACK")
    except psycopg.Error:
        conn.close()  # the pool replaces it


def _sqlstate(error: BaseException) -> str:
    return getattr(error, "sqlstate", None) or ""


def _lost(conn: psycopg.Connection[Any], error: BaseException) -> bool:
    """The connection is gone: the server rolls back whatever it had not committed."""
    return conn.broken or conn.closed or _is_connection_error(error)


def _is_connection_error(error: BaseException) -> bool:
    if isinstance(error, PoolTimeout):
        return True
    state = _sqlstate(error)
    if state:
        return state.startswith("08") or state in _LOST_STATES
    # Failures to connect carry no SQLSTATE (refused, reset, DNS, the server starting up).
    return isinstance(error, psycopg.OperationalError)


def _parsed(url: str) -> dict[str, str]:
    """libpq's parameters of ``url``; StoreError for a malformed one, which is never quoted:
    libpq's message repeats the text, password and all."""
    if ambiguous_credentials(url):
        raise StoreError(AMBIGUOUS)
    try:
        return {key: str(value) for key, value in conninfo_to_dict(url).items()}
    except psycopg.Error:
        raise StoreError(UNPARSABLE) from None


def _found(row: Row | None) -> Row:
    if row is None:
        raise StoreError("a row written in this transaction is missing")
    return row
