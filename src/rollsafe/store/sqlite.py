"""SQLite backend of the Store: WAL, versioned migrations, one transaction per change.

Every mutation appends its journal entry inside the same ``BEGIN IMMEDIATE``
transaction, so the state and its evidence never disagree, even when the
process dies between two statements.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
)

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
]

SCHEMA_VERSION = len(MIGRATIONS)
ENVIRONMENT_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
"""What an environment may be called (it appears in URLs and token scopes)."""


class SqliteStore:
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
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as error:
            raise StoreError(f"cannot open state database {self.path}: {error}") from error

    @property
    def address(self) -> str:
        return str(self.path)

    # -- plumbing ---------------------------------------------------------

    def _migrate(self) -> None:
        with self._write():
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {version}, newer than this rollsafe "
                    f"understands ({SCHEMA_VERSION}); upgrade rollsafe"
                )
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number + 1}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise StoreError(f"cannot write to {self.path}: {error}") from error
            try:
                yield self._db
            except sqlite3.Error as error:
                self._db.execute("ROLLBACK")
                raise StoreError(f"cannot write to {self.path}: {error}") from error
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                try:
                    self._db.execute("COMMIT")
                except sqlite3.Error as error:
                    raise StoreError(f"cannot commit to {self.path}: {error}") from error

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as error:
                raise StoreError(f"cannot read {self.path}: {error}") from error

    def _journal(
        self,
        db: sqlite3.Connection,
        kind: str,
        data: dict[str, Any],
        *,
        actor: str,
        rollout_id: str | None,
    ) -> JournalEntry:
        head = db.execute("SELECT seq, hash FROM journal_head WHERE id = 1").fetchone()
        seq, prev_hash = (head["seq"] + 1, head["hash"]) if head else (1, GENESIS_HASH)
        # Round-trip the data through canonical JSON so the hash covers exactly what is stored.
        text = canonical_json(data)
        entry = JournalEntry(
            seq=seq,
            ts=time.time(),
            kind=kind,
            actor=actor,
            rollout_id=rollout_id,
            data=json.loads(text),
            prev_hash=prev_hash,
            hash="",
        )
        digest = entry_hash(prev_hash, entry.body())
        db.execute(
            "INSERT INTO journal (seq, ts, kind, actor, rollout_id, data, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, entry.ts, kind, actor, rollout_id, text, prev_hash, digest),
        )
        db.execute(
            "INSERT INTO journal_head (id, seq, hash) VALUES (1, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            (seq, digest),
        )
        return dataclasses.replace(entry, hash=digest)

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
        with self._write() as db:
            db.execute(
                "INSERT INTO rollouts (id, service, plan_path, plan_text, state, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (rollout_id, service, plan_path, plan_text, RolloutState.PENDING, now, now),
            )
            db.executemany(
                "INSERT INTO steps (rollout_id, idx, kind, spec, state) VALUES (?, ?, ?, ?, ?)",
                [
                    (rollout_id, index, kind, canonical_json(spec), StepState.PENDING)
                    for index, (kind, spec) in enumerate(steps)
                ],
            )
            self._journal(
                db,
                "rollout.created",
                {
                    "service": service,
                    "plan_path": plan_path,
                    "steps": [{"kind": kind, **spec} for kind, spec in steps],
                },
                actor=actor,
                rollout_id=rollout_id,
            )
        return self.get_rollout(rollout_id)

    def get_rollout(self, rollout_id: str) -> Rollout:
        rows = self._read("SELECT * FROM rollouts WHERE id = ?", (rollout_id,))
        if not rows:
            raise NotFoundError(f"no rollout {rollout_id!r}")
        return record.rollout(rows[0])

    def list_rollouts(self, limit: int = 50) -> list[Rollout]:
        rows = self._read("SELECT * FROM rollouts ORDER BY created_at DESC LIMIT ?", (limit,))
        return [record.rollout(row) for row in rows]

    def steps(self, rollout_id: str) -> list[StepRecord]:
        self.get_rollout(rollout_id)
        rows = self._read("SELECT * FROM steps WHERE rollout_id = ? ORDER BY idx", (rollout_id,))
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
        now = time.time()
        with self._write() as db:
            row = db.execute(
                "SELECT * FROM steps WHERE rollout_id = ? AND idx = ?", (rollout_id, index)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"rollout {rollout_id!r} has no step {index}")
            step = record.step(row)
            attempts = step.attempts + (1 if state is StepState.RUNNING else 0)
            started_at = now if state is StepState.RUNNING else step.started_at
            ended_at = now if state in (StepState.SUCCEEDED, StepState.FAILED) else None
            result_text = canonical_json(result if result is not None else step.result)
            db.execute(
                "UPDATE steps SET state = ?, attempts = ?, started_at = ?, ended_at = ?,"
                " result = ? WHERE rollout_id = ? AND idx = ?",
                (state, attempts, started_at, ended_at, result_text, rollout_id, index),
            )
            if state is StepState.RUNNING:
                db.execute(
                    "UPDATE rollouts SET step_index = ?, updated_at = ? WHERE id = ?",
                    (index, now, rollout_id),
                )
            data: dict[str, Any] = {"index": index, "kind": step.kind, "attempt": attempts}
            if state is StepState.RUNNING:
                data["spec"] = step.spec
            if result is not None:
                data["result"] = result
            self._journal(db, f"step.{state}", data, actor=actor, rollout_id=rollout_id)
            row = db.execute(
                "SELECT * FROM steps WHERE rollout_id = ? AND idx = ?", (rollout_id, index)
            ).fetchone()
        return record.step(row)

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
        with self._write() as db:
            row = db.execute("SELECT * FROM rollouts WHERE id = ?", (rollout_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no rollout {rollout_id!r}")
            current = RolloutState(row["state"])
            if expected is not None and current not in expected:
                allowed = ", ".join(sorted(expected))
                raise ConflictError(
                    f"rollout {rollout_id} is {current}, not {allowed}; nothing was changed"
                )
            index = row["step_index"] if step_index is None else step_index
            db.execute(
                "UPDATE rollouts SET state = ?, reason = ?, step_index = ?, updated_at = ?,"
                " requested = CASE WHEN ? THEN NULL ELSE requested END WHERE id = ?",
                (state, reason, index, time.time(), state.is_final, rollout_id),
            )
            data: dict[str, Any] = {"from": current, "to": state, "step_index": index}
            if reason:
                data["reason"] = reason
            self._journal(db, f"rollout.{state}", data, actor=actor, rollout_id=rollout_id)
        return self.get_rollout(rollout_id)

    def request(
        self, rollout_id: str, command: str | None, *, actor: str, reason: str = ""
    ) -> Rollout:
        """Leave ``pause``, ``abort`` or ``rollback`` for the owner (None clears it)."""
        with self._write() as db:
            row = db.execute("SELECT state FROM rollouts WHERE id = ?", (rollout_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no rollout {rollout_id!r}")
            if RolloutState(row["state"]).is_final and command is not None:
                raise ConflictError(f"rollout {rollout_id} is already {row['state']}")
            db.execute(
                "UPDATE rollouts SET requested = ?, updated_at = ?,"
                " reason = CASE WHEN ? != '' THEN ? ELSE reason END WHERE id = ?",
                (command, time.time(), reason, reason, rollout_id),
            )
            kind = f"rollout.{command}_requested" if command else "rollout.request_cleared"
            data = {"reason": reason} if reason else {}
            self._journal(db, kind, data, actor=actor, rollout_id=rollout_id)
        return self.get_rollout(rollout_id)

    def acquire_lease(
        self, rollout_id: str, owner: str, ttl: float, *, take_over_from: str | None = None
    ) -> bool:
        """Claim or renew; a live lease of another owner is taken only if it is ``take_over_from``.

        The check and the write share one transaction, so of two controllers taking
        over from the same dead owner only the first succeeds.
        """
        now = time.time()
        with self._write() as db:
            row = db.execute(
                "SELECT owner, lease_until FROM rollouts WHERE id = ?", (rollout_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no rollout {rollout_id!r}")
            current = row["owner"]
            held_by_other = current not in (None, owner) and (row["lease_until"] or 0.0) > now
            if held_by_other and current != take_over_from:
                return False
            db.execute(
                "UPDATE rollouts SET owner = ?, lease_until = ? WHERE id = ?",
                (owner, now + ttl, rollout_id),
            )
            if current != owner:
                self._journal(
                    db,
                    "rollout.lease_acquired",
                    {"owner": owner, "previous_owner": current, "taken_over": held_by_other},
                    actor=owner,
                    rollout_id=rollout_id,
                )
        return True

    def release_lease(self, rollout_id: str, owner: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE rollouts SET owner = NULL, lease_until = NULL WHERE id = ? AND owner = ?",
                (rollout_id, owner),
            )

    # -- flags ------------------------------------------------------------

    def list_flags(self, environment: str = DEFAULT_ENVIRONMENT) -> list[FlagRecord]:
        rows = self._read(
            "SELECT * FROM flags WHERE environment = ? AND definition IS NOT NULL ORDER BY name",
            (environment,),
        )
        return [record.flag(row) for row in rows]

    def get_flag(self, name: str, environment: str = DEFAULT_ENVIRONMENT) -> FlagRecord:
        rows = self._read(
            "SELECT * FROM flags WHERE environment = ? AND name = ? AND definition IS NOT NULL",
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
        with self._write() as db:
            self._check_environment(db, environment)
            revision = self._next_flags_revision(db)
            self._put_flag(
                db, environment, name, definition, revision,
                actor=actor, expected_version=expected_version, rollout_id=rollout_id,
            )  # fmt: skip
        return self.get_flag(name, environment)

    def put_flags(
        self,
        definitions: Mapping[str, dict[str, Any]],
        *,
        actor: str,
        environment: str = DEFAULT_ENVIRONMENT,
    ) -> list[FlagRecord]:
        """Write several flags (name to definition) in one transaction: all or none."""
        with self._write() as db:
            self._check_environment(db, environment)
            revision = self._next_flags_revision(db)
            for name, definition in definitions.items():
                self._put_flag(db, environment, name, definition, revision, actor=actor)
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
        now = time.time()
        with self._write() as db:
            row = db.execute(
                "SELECT * FROM flags WHERE environment = ? AND name = ?", (environment, name)
            ).fetchone()
            if row is None or row["definition"] is None:
                raise NotFoundError(f"no flag {name!r}{record.in_environment(environment)}")
            version = row["version"]
            if expected_version is not None and expected_version != version:
                raise ConflictError(
                    f"flag {name!r}{record.in_environment(environment)} is at version "
                    f"{version}, not {expected_version}; reload it and try again"
                )
            revision = self._next_flags_revision(db)
            db.execute(
                "UPDATE flags SET definition = NULL, version = ?, revision = ?, updated_at = ?,"
                " updated_by = ? WHERE environment = ? AND name = ?",
                (version + 1, revision, now, actor, environment, name),
            )
            data: dict[str, Any] = {
                "name": name,
                "version": version + 1,
                "before": json.loads(row["definition"]),
            }
            if environment != DEFAULT_ENVIRONMENT:
                data["environment"] = environment
            self._journal(db, "flag.deleted", data, actor=actor, rollout_id=None)

    def flags_revision(self) -> int:
        rows = self._read("SELECT value FROM counters WHERE name = 'flags_revision'")
        return int(rows[0]["value"])

    def flag_changes(self, after_revision: int = 0) -> list[FlagChange]:
        """The latest state of every flag changed after ``after_revision``, deletions included.

        Ordered by revision; several changes of one flag since then show as its latest.
        """
        rows = self._read(
            "SELECT * FROM flags WHERE revision > ? ORDER BY revision, environment, name",
            (after_revision,),
        )
        return [record.flag_change(row) for row in rows]

    def _next_flags_revision(self, db: sqlite3.Connection) -> int:
        db.execute("UPDATE counters SET value = value + 1 WHERE name = 'flags_revision'")
        row = db.execute("SELECT value FROM counters WHERE name = 'flags_revision'").fetchone()
        return int(row["value"])

    def _put_flag(
        self,
        db: sqlite3.Connection,
        environment: str,
        name: str,
        definition: dict[str, Any],
        revision: int,
        *,
        actor: str,
        expected_version: int | None = None,
        rollout_id: str | None = None,
    ) -> None:
        row = db.execute(
            "SELECT * FROM flags WHERE environment = ? AND name = ?", (environment, name)
        ).fetchone()
        exists = row is not None and row["definition"] is not None
        version = row["version"] if exists else 0
        if expected_version is not None and expected_version != version:
            raise ConflictError(
                f"flag {name!r}{record.in_environment(environment)} is at version {version}, not "
                f"{expected_version}; reload it and try again"
            )
        # A flag created again after a deletion continues its version sequence.
        new_version = (row["version"] if row is not None else 0) + 1
        before = json.loads(row["definition"]) if exists else None
        db.execute(
            "INSERT INTO flags (environment, name, definition, version, revision, updated_at,"
            " updated_by) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(environment, name) DO UPDATE"
            " SET definition = excluded.definition, version = excluded.version,"
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
        self._journal(db, "flag.changed", data, actor=actor, rollout_id=rollout_id)

    # -- environments -----------------------------------------------------

    def list_environments(self) -> list[EnvironmentRecord]:
        rows = self._read("SELECT * FROM environments ORDER BY name")
        return [EnvironmentRecord(r["name"], r["created_at"], r["created_by"]) for r in rows]

    def create_environment(self, name: str, *, actor: str) -> EnvironmentRecord:
        if not isinstance(name, str) or not ENVIRONMENT_NAME.fullmatch(name):
            raise StoreError(
                f"environment name {name!r} is invalid: use 1-64 of a-z, 0-9, '-', '_', '.',"
                " starting with a letter or digit"
            )
        now = time.time()
        with self._write() as db:
            exists = db.execute("SELECT 1 FROM environments WHERE name = ?", (name,)).fetchone()
            if exists:
                raise ConflictError(f"environment {name!r} already exists")
            db.execute("INSERT INTO environments VALUES (?, ?, ?)", (name, now, actor))
            self._journal(db, "environment.created", {"name": name}, actor=actor, rollout_id=None)
        return EnvironmentRecord(name, now, actor)

    def _check_environment(self, db: sqlite3.Connection, environment: str) -> None:
        if not db.execute("SELECT 1 FROM environments WHERE name = ?", (environment,)).fetchone():
            raise NotFoundError(f"no environment {environment!r}; create it first")

    # -- API tokens -------------------------------------------------------

    def add_token(self, record: TokenRecord, *, actor: str) -> None:
        with self._write() as db:
            if record.environment != "*":
                self._check_environment(db, record.environment)
            try:
                db.execute(
                    "INSERT INTO api_tokens (id, name, scope, environment, sha256, created_at,"
                    " created_by, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (record.id, record.name, record.scope, record.environment, record.sha256,
                     record.created_at, record.created_by, record.revoked_at),
                )  # fmt: skip
            except sqlite3.IntegrityError as error:
                raise ConflictError(f"token {record.id!r} already exists") from error
            self._journal(
                db,
                "token.created",
                {"id": record.id, "name": record.name, "scope": record.scope,
                 "environment": record.environment},
                actor=actor,
                rollout_id=None,
            )  # fmt: skip

    def get_token(self, token_id: str) -> TokenRecord:
        rows = self._read("SELECT * FROM api_tokens WHERE id = ?", (token_id,))
        if not rows:
            raise NotFoundError(f"no token {token_id!r}")
        return record.token(rows[0])

    def list_tokens(self) -> list[TokenRecord]:
        return [
            record.token(row) for row in self._read("SELECT * FROM api_tokens ORDER BY created_at")
        ]

    def revoke_token(self, token_id: str, *, actor: str) -> TokenRecord:
        """Revoke a token for good; revoking a revoked token changes nothing."""
        with self._write() as db:
            row = db.execute("SELECT * FROM api_tokens WHERE id = ?", (token_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no token {token_id!r}")
            if row["revoked_at"] is None:
                db.execute(
                    "UPDATE api_tokens SET revoked_at = ? WHERE id = ?", (time.time(), token_id)
                )
                self._journal(db, "token.revoked", {"id": token_id}, actor=actor, rollout_id=None)
        return self.get_token(token_id)

    # -- backups ----------------------------------------------------------

    def add_backup(self, record: BackupRecord, *, actor: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO backups (id, source, kind, path, sha256, size, created_at,"
                " rollout_id, manifest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            self._journal(
                db,
                "backup.created",
                {"id": record.id, "source": record.source, "sha256": record.sha256},
                actor=actor,
                rollout_id=record.rollout_id,
            )

    def list_backups(self, source: str | None = None) -> list[BackupRecord]:
        if source is None:
            rows = self._read("SELECT * FROM backups ORDER BY created_at DESC")
        else:
            rows = self._read(
                "SELECT * FROM backups WHERE source = ? ORDER BY created_at DESC", (source,)
            )
        return [record.backup(row) for row in rows]

    def get_backup(self, backup_id: str) -> BackupRecord:
        rows = self._read("SELECT * FROM backups WHERE id = ?", (backup_id,))
        if not rows:
            raise NotFoundError(f"no backup {backup_id!r}; see 'rollsafe backup list'")
        return record.backup(rows[0])

    def delete_backup(self, backup_id: str, *, actor: str, reason: str) -> None:
        with self._write() as db:
            row = db.execute("SELECT * FROM backups WHERE id = ?", (backup_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no backup {backup_id!r}")
            db.execute("DELETE FROM backups WHERE id = ?", (backup_id,))
            self._journal(
                db,
                "backup.deleted",
                {"id": backup_id, "source": row["source"], "reason": reason},
                actor=actor,
                rollout_id=row["rollout_id"],
            )

    # -- routers ----------------------------------------------------------

    def put_router(self, router: RouterRecord, *, actor: str) -> None:
        with self._write() as db:
            row = db.execute("SELECT * FROM routers WHERE root = ?", (router.root,)).fetchone()
            if row is not None and record.same_router(row, router):
                return
            db.execute(
                "INSERT INTO routers (root, service, kind, home, config, updated_at, updated_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(root) DO UPDATE SET"
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
            data = router.journal_data()
            self._journal(db, "router.recorded", data, actor=actor, rollout_id=None)

    def get_router(self, root: str) -> RouterRecord | None:
        rows = self._read("SELECT * FROM routers WHERE root = ?", (root,))
        return record.router(rows[0]) if rows else None

    def delete_router(self, root: str, *, actor: str) -> None:
        with self._write() as db:
            if db.execute("DELETE FROM routers WHERE root = ?", (root,)).rowcount:
                self._journal(db, "router.forgotten", {"root": root}, actor=actor, rollout_id=None)

    # -- journal ----------------------------------------------------------

    def append(
        self, kind: str, data: dict[str, Any], *, actor: str, rollout_id: str | None = None
    ) -> JournalEntry:
        with self._write() as db:
            return self._journal(db, kind, data, actor=actor, rollout_id=rollout_id)

    def journal(self, rollout_id: str | None = None, after_seq: int = 0) -> list[JournalEntry]:
        if rollout_id is None:
            rows = self._read("SELECT * FROM journal WHERE seq > ? ORDER BY seq", (after_seq,))
        else:
            rows = self._read(
                "SELECT * FROM journal WHERE rollout_id = ? AND seq > ? ORDER BY seq",
                (rollout_id, after_seq),
            )
        return [record.entry(row) for row in rows]

    def verify_journal(self) -> VerifyResult:
        head_rows = self._read("SELECT seq, hash FROM journal_head WHERE id = 1")
        head = (head_rows[0]["seq"], head_rows[0]["hash"]) if head_rows else None
        with self._lock:
            try:
                cursor = self._db.execute("SELECT * FROM journal ORDER BY seq")
                return verify_chain((record.entry(row) for row in cursor), head)
            except (sqlite3.Error, ValueError) as error:
                raise StoreError(f"cannot read the journal in {self.path}: {error}") from error

    def close(self) -> None:
        with self._lock:
            self._db.close()
