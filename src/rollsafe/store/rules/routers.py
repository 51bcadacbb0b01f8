"""Which router fronts the instances under each target root; journaled only when it changes."""

from __future__ import annotations

import time

from rollsafe.journal import canonical_json
from rollsafe.journal.kinds import Kind
from rollsafe.store import rows as record
from rollsafe.store.records import RouterRecord
from rollsafe.store.transaction import Reader, Transaction


def put(tx: Transaction, router: RouterRecord, *, actor: str) -> None:
    row = tx.one("SELECT * FROM routers WHERE root = ?", (router.root,))
    if row is not None and record.same_router(row, router):
        return
    tx.execute(
        "INSERT INTO routers (root, service, kind, home, config, updated_at, updated_by)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (root) DO UPDATE SET"
        " service = excluded.service, kind = excluded.kind, home = excluded.home,"
        " config = excluded.config, updated_at = excluded.updated_at,"
        " updated_by = excluded.updated_by",
        (router.root, router.service, router.kind, router.home, canonical_json(router.config),
         time.time(), actor),
    )  # fmt: skip
    tx.journal(Kind.ROUTER_RECORDED, router.journal_data(), actor=actor, rollout_id=None)


def get(db: Reader, root: str) -> RouterRecord | None:
    row = db.one("SELECT * FROM routers WHERE root = ?", (root,))
    return record.router(row) if row is not None else None


def delete(tx: Transaction, root: str, *, actor: str) -> None:
    """Forget the router of ``root`` (idempotent)."""
    if tx.execute("DELETE FROM routers WHERE root = ?", (root,)):
        tx.journal(Kind.ROUTER_FORGOTTEN, {"root": root}, actor=actor, rollout_id=None)
