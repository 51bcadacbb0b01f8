"""Flags per environment: versions, tombstones, the revision feed, and environments themselves."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

from rollsafe.errors import ConflictError, NotFoundError, StoreError
from rollsafe.journal import canonical_json
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import FlagChanged, FlagDeleted
from rollsafe.store import rows as record
from rollsafe.store.records import DEFAULT_ENVIRONMENT, EnvironmentRecord, FlagChange, FlagRecord
from rollsafe.store.transaction import Reader, Transaction, found

ENVIRONMENT_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
"""What an environment may be called (it appears in URLs and token scopes)."""


def listed(db: Reader, environment: str) -> list[FlagRecord]:
    rows = db.all(
        "SELECT * FROM flags WHERE environment = ? AND definition IS NOT NULL"
        ' ORDER BY name COLLATE "C"',
        (environment,),
    )
    return [record.flag(row) for row in rows]


def get(db: Reader, name: str, environment: str) -> FlagRecord:
    row = db.one(
        "SELECT * FROM flags WHERE environment = ? AND name = ? AND definition IS NOT NULL",
        (environment, name),
    )
    if row is None:
        raise NotFoundError(f"no flag {name!r}{record.in_environment(environment)}")
    return record.flag(row)


def put(
    tx: Transaction,
    definitions: Mapping[str, dict[str, Any]],
    *,
    actor: str,
    environment: str,
    expected_version: int | None = None,
    rollout_id: str | None = None,
) -> None:
    """Create or replace flags, all at one new revision; ``expected_version`` guards each."""
    check_environment(tx, environment)
    revision = _next_revision(tx)
    for name, definition in definitions.items():
        row = tx.one("SELECT * FROM flags WHERE environment = ? AND name = ?", (environment, name))
        exists = row is not None and row["definition"] is not None
        version = row["version"] if row is not None and exists else 0
        _check_version(name, environment, version, expected_version)
        # A flag created again after a deletion continues its version sequence.
        new_version = (row["version"] if row is not None else 0) + 1
        before = json.loads(row["definition"]) if row is not None and exists else None
        tx.execute(
            "INSERT INTO flags (environment, name, definition, version, revision, updated_at,"
            " updated_by) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (environment, name)"
            " DO UPDATE SET definition = excluded.definition, version = excluded.version,"
            " revision = excluded.revision, updated_at = excluded.updated_at,"
            " updated_by = excluded.updated_by",
            (environment, name, canonical_json(definition), new_version, revision, time.time(),
             actor),
        )  # fmt: skip
        changed = FlagChanged(name=name, version=new_version, before=before, after=definition)
        if environment != DEFAULT_ENVIRONMENT:
            changed["environment"] = environment  # entries in the default one never name it
        tx.journal(Kind.FLAG_CHANGED, changed, actor=actor, rollout_id=rollout_id)


def delete(
    tx: Transaction, name: str, *, actor: str, expected_version: int | None, environment: str
) -> None:
    """Delete a flag, keeping a tombstone so change feeds report the deletion."""
    row = tx.one("SELECT * FROM flags WHERE environment = ? AND name = ?", (environment, name))
    if row is None or row["definition"] is None:
        raise NotFoundError(f"no flag {name!r}{record.in_environment(environment)}")
    version = row["version"]
    _check_version(name, environment, version, expected_version)
    revision = _next_revision(tx)
    tx.execute(
        "UPDATE flags SET definition = NULL, version = ?, revision = ?,"
        " updated_at = ?, updated_by = ? WHERE environment = ? AND name = ?",
        (version + 1, revision, time.time(), actor, environment, name),
    )
    deleted = FlagDeleted(name=name, version=version + 1, before=json.loads(row["definition"]))
    if environment != DEFAULT_ENVIRONMENT:
        deleted["environment"] = environment
    tx.journal(Kind.FLAG_DELETED, deleted, actor=actor, rollout_id=None)


def revision(db: Reader) -> int:
    return int(found(db.one("SELECT value FROM counters WHERE name = 'flags_revision'"))["value"])


def changes(db: Reader, after_revision: int) -> list[FlagChange]:
    """The latest state of every flag changed after ``after_revision``, deletions included.

    Ordered by revision; several changes of one flag since then show as its latest.
    """
    rows = db.all(
        "SELECT * FROM flags WHERE revision > ?"
        ' ORDER BY revision, environment COLLATE "C", name COLLATE "C"',
        (after_revision,),
    )
    return [record.flag_change(row) for row in rows]


def _check_version(name: str, environment: str, version: int, expected: int | None) -> None:
    if expected is not None and expected != version:
        raise ConflictError(
            f"flag {name!r}{record.in_environment(environment)} is at version {version}, not "
            f"{expected}; reload it and try again"
        )


def _next_revision(tx: Transaction) -> int:
    row = tx.one(
        "UPDATE counters SET value = value + 1 WHERE name = 'flags_revision' RETURNING value"
    )
    number = int(found(row)["value"])
    tx.flags_changed(number)
    return number


# -- environments ------------------------------------------------------------


def environments(db: Reader) -> list[EnvironmentRecord]:
    rows = db.all('SELECT * FROM environments ORDER BY name COLLATE "C"')
    return [EnvironmentRecord(r["name"], r["created_at"], r["created_by"]) for r in rows]


def check_environment_name(name: str) -> None:
    """Checked before any transaction: a bad name is a usage error, not a conflict."""
    if not isinstance(name, str) or not ENVIRONMENT_NAME.fullmatch(name):
        raise StoreError(
            f"environment name {name!r} is invalid: use 1-64 of a-z, 0-9, '-', '_', '.',"
            " starting with a letter or digit"
        )


def create_environment(tx: Transaction, name: str, *, actor: str, now: float) -> None:
    if tx.one("SELECT 1 AS found FROM environments WHERE name = ?", (name,)):
        raise ConflictError(f"environment {name!r} already exists")
    tx.execute("INSERT INTO environments VALUES (?, ?, ?)", (name, now, actor))
    tx.journal(Kind.ENVIRONMENT_CREATED, {"name": name}, actor=actor, rollout_id=None)


def check_environment(db: Reader, environment: str) -> None:
    if not db.one("SELECT 1 AS found FROM environments WHERE name = ?", (environment,)):
        raise NotFoundError(f"no environment {environment!r}; create it first")
