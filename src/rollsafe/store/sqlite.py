"""SQLite backend of the Store: WAL, versioned migrations, one transaction per change.

Every mutation appends its journal entry inside the same ``BEGIN IMMEDIATE``
transaction, so the state and its evidence never disagree, even when the
process dies between two statements. The rules themselves are shared with
PostgreSQL (`rollsafe.store.ruled`); this module only runs them.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from rollsafe.errors import StoreError
from rollsafe.journal import JournalEntry, VerifyResult, canonical_json, verify_chain
from rollsafe.store import rows as record
from rollsafe.store.rows import Row
from rollsafe.store.ruled import RuledStore, refuse_newer_schema
from rollsafe.store.rules import journaling
from rollsafe.store.transaction import Reader, Transaction

T = TypeVar("T")

# Each entry upgrades the schema by one version (PRAGMA user_version); never edit a shipped one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE rollouts (
        id TEXT PRIMARY KEY,
        service TEXT NOT NULL,
        plan_path TEXT NOT NULL,
        plan_text TEXT NOT NULL,
        state TEXT NOT NULL,
        step_index INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        owner TEXT,
        lease_until REAL,
        requested TEXT,
        reason TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE steps (
        rollout_id TEXT NOT NULL REFERENCES rollouts(id),
        idx INTEGER NOT NULL,
        kind TEXT NOT NULL,
        spec TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        started_at REAL,
        ended_at REAL,
        result TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (rollout_id, idx)
    );
    CREATE TABLE flags (
        name TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        version INTEGER NOT NULL,
        updated_at REAL NOT NULL,
        updated_by TEXT NOT NULL
    );
    CREATE TABLE backups (
        id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        kind TEXT NOT NULL,
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        created_at REAL NOT NULL,
        rollout_id TEXT,
        manifest TEXT NOT NULL
    );
    CREATE TABLE journal (
        seq INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT NOT NULL,
        rollout_id TEXT,
        data TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX journal_rollout ON journal(rollout_id, seq);
    CREATE TABLE journal_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO counters VALUES ('flags_revision', 0);
    """,
    # The flag service: flags per environment, tombstones and the revision of each row
    # (a change feed that streams resume from), and API tokens stored as SHA-256 digests.
    """
    CREATE TABLE environments (
        name TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        created_by TEXT NOT NULL
    );
    INSERT INTO environments VALUES ('default', 0, 'schema');
    CREATE TABLE flags_by_environment (
        environment TEXT NOT NULL REFERENCES environments(name),
        name TEXT NOT NULL,
        definition TEXT,
        version INTEGER NOT NULL,
        revision INTEGER NOT NULL,
        updated_at REAL NOT NULL,
        updated_by TEXT NOT NULL,
        PRIMARY KEY (environment, name)
    );
    INSERT INTO flags_by_environment
        SELECT 'default', name, definition, version,
            (SELECT value FROM counters WHERE name = 'flags_revision'), updated_at, updated_by
        FROM flags;
    DROP TABLE flags;
    ALTER TABLE flags_by_environment RENAME TO flags;
    CREATE INDEX flags_by_revision ON flags(revision);
    CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        scope TEXT NOT NULL,
        environment TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        created_at REAL NOT NULL,
        created_by TEXT NOT NULL,
        revoked_at REAL
    );
    """,
    # Which router fronts the instances under each process target root.
    """
    CREATE TABLE routers (
        root TEXT PRIMARY KEY,
        service TEXT NOT NULL,
        kind TEXT NOT NULL,
        home TEXT NOT NULL,
        config TEXT NOT NULL,
        updated_at REAL NOT NULL,
        updated_by TEXT NOT NULL
    );
    """,
    # What Unleash SDKs report: instances (register), toggle counts and impact metrics
    # per minute window (metrics); bounded by rules/usage.py, never journaled.
    """
    CREATE TABLE client_applications (
        app_name TEXT NOT NULL,
        instance_id TEXT NOT NULL,
        environment TEXT NOT NULL,
        sdk_version TEXT NOT NULL,
        strategies TEXT NOT NULL,
        started TEXT NOT NULL,
        interval_ms INTEGER,
        platform TEXT NOT NULL,
        token_name TEXT NOT NULL,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL,
        PRIMARY KEY (app_name, instance_id)
    );
    CREATE INDEX client_applications_seen ON client_applications(last_seen);
    CREATE TABLE client_metrics (
        environment TEXT NOT NULL,
        toggle TEXT NOT NULL,
        app_name TEXT NOT NULL,
        window_start REAL NOT NULL,
        yes_count INTEGER NOT NULL,
        no_count INTEGER NOT NULL,
        variants TEXT NOT NULL,
        PRIMARY KEY (environment, toggle, app_name, window_start)
    );
    CREATE INDEX client_metrics_window ON client_metrics(window_start);
    CREATE TABLE impact_metrics (
        environment TEXT NOT NULL,
        name TEXT NOT NULL,
        labels TEXT NOT NULL,
        window_start REAL NOT NULL,
        kind TEXT NOT NULL,
        help TEXT NOT NULL,
        value REAL NOT NULL,
        count INTEGER NOT NULL,
        total REAL NOT NULL,
        buckets TEXT NOT NULL,
        PRIMARY KEY (environment, name, labels, window_start)
    );
    CREATE INDEX impact_metrics_window ON impact_metrics(window_start);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


class _Connection:
    """The rules' `Transaction` on the one SQLite connection (reads use it too)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> Row | None:
        row: Row | None = self.db.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        return list(self.db.execute(sql, params).fetchall())

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return self.db.execute(sql, params).rowcount

    def journal(
        self, kind: str, data: Mapping[str, Any], *, actor: str, rollout_id: str | None
    ) -> JournalEntry:
        text = canonical_json(data)
        after = journaling.head(self)
        return journaling.append(self, after, kind, text, actor=actor, rollout_id=rollout_id)

    def now(self) -> float:
        return time.time()

    def flags_changed(self, revision: int) -> None:
        """Nothing to do: SQLite replicas poll the revision (there is no LISTEN)."""


def _byte_order(left: str, right: str) -> int:
    """PostgreSQL's ``COLLATE "C"``, which the shared rules order names by."""
    return (left > right) - (left < right)


class SqliteStore(RuledStore):
    """The embedded default store: one file, safe for several processes at once."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._db.row_factory = sqlite3.Row
            self._db.create_collation("C", _byte_order)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._connection = _Connection(self._db)
            self._migrate()
        except sqlite3.Error as error:
            raise StoreError(f"cannot open state database {self.path}: {error}") from error

    @property
    def address(self) -> str:
        return str(self.path)

    def _migrate(self) -> None:
        def body(tx: Transaction) -> None:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            refuse_newer_schema(self.where, version, SCHEMA_VERSION)
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        tx.execute(statement)
                tx.execute(f"PRAGMA user_version = {number + 1}")

        self._write(body)

    def _write(self, body: Callable[[Transaction], T]) -> T:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise StoreError(f"cannot write to {self.path}: {error}") from error
            try:
                outcome = body(self._connection)
            except sqlite3.Error as error:
                self._db.execute("ROLLBACK")
                raise StoreError(f"cannot write to {self.path}: {error}") from error
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                raise StoreError(f"cannot commit to {self.path}: {error}") from error
            return outcome

    def _read(self, body: Callable[[Reader], T]) -> T:
        with self._lock:
            try:
                return body(self._connection)
            except sqlite3.Error as error:
                raise StoreError(f"cannot read {self.path}: {error}") from error

    def verify_journal(self) -> VerifyResult:
        with self._lock:
            try:
                head_row = self._db.execute(
                    "SELECT seq, hash FROM journal_head WHERE id = 1"
                ).fetchone()
                head = (head_row["seq"], head_row["hash"]) if head_row else None
                cursor = self._db.execute("SELECT * FROM journal ORDER BY seq")
                return verify_chain((record.entry(row) for row in cursor), head)
            except (sqlite3.Error, ValueError) as error:
                raise StoreError(f"cannot read the journal in {self.path}: {error}") from error

    def close(self) -> None:
        with self._lock:
            self._db.close()
