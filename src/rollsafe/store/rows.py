"""Rows to records: one mapping for every backend, so the backends cannot drift apart."""

from __future__ import annotations

import json
from typing import Any, Protocol

from rollsafe.journal import JournalEntry, canonical_json
from rollsafe.store.records import (
    DEFAULT_ENVIRONMENT,
    BackupRecord,
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


class Row(Protocol):
    """A database row read by column name (sqlite3.Row, a psycopg dict row)."""

    def __getitem__(self, key: str, /) -> Any: ...


def rollout(row: Row) -> Rollout:
    return Rollout(
        id=row["id"],
        service=row["service"],
        plan_path=row["plan_path"],
        plan_text=row["plan_text"],
        state=RolloutState(row["state"]),
        step_index=row["step_index"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        owner=row["owner"],
        lease_until=row["lease_until"],
        requested=row["requested"],
        reason=row["reason"],
    )


def step(row: Row) -> StepRecord:
    return StepRecord(
        rollout_id=row["rollout_id"],
        index=row["idx"],
        kind=row["kind"],
        spec=json.loads(row["spec"]),
        state=StepState(row["state"]),
        attempts=row["attempts"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        result=json.loads(row["result"]),
    )


def flag(row: Row) -> FlagRecord:
    return FlagRecord(
        name=row["name"],
        definition=json.loads(row["definition"]),
        version=row["version"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


def flag_change(row: Row) -> FlagChange:
    definition = row["definition"]
    return FlagChange(
        environment=row["environment"],
        name=row["name"],
        definition=json.loads(definition) if definition is not None else None,
        version=row["version"],
        revision=row["revision"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


def token(row: Row) -> TokenRecord:
    return TokenRecord(
        id=row["id"],
        name=row["name"],
        scope=TokenScope(row["scope"]),
        environment=row["environment"],
        sha256=row["sha256"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        revoked_at=row["revoked_at"],
    )


def in_environment(environment: str) -> str:
    return "" if environment == DEFAULT_ENVIRONMENT else f" in environment {environment!r}"


def backup(row: Row) -> BackupRecord:
    return BackupRecord(
        id=row["id"],
        source=row["source"],
        kind=row["kind"],
        path=row["path"],
        sha256=row["sha256"],
        size=row["size"],
        created_at=row["created_at"],
        rollout_id=row["rollout_id"],
        manifest=json.loads(row["manifest"]),
    )


def entry(row: Row) -> JournalEntry:
    try:
        data = json.loads(row["data"])
    except ValueError:
        # An edited row may no longer be JSON; keep it so verification names it.
        data = {"unparseable": row["data"]}
    return JournalEntry(
        seq=row["seq"],
        ts=row["ts"],
        kind=row["kind"],
        actor=row["actor"],
        rollout_id=row["rollout_id"],
        data=data,
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def router(row: Row) -> RouterRecord:
    return RouterRecord(
        root=row["root"],
        service=row["service"],
        kind=row["kind"],
        home=row["home"],
        config=json.loads(row["config"]),
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


def same_router(row: Row, router: RouterRecord) -> bool:
    """Whether ``row`` already says what ``router`` says (then nothing is written)."""
    return (row["service"], row["kind"], row["home"], row["config"]) == (
        router.service,
        router.kind,
        router.home,
        canonical_json(router.config),
    )
