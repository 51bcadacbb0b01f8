"""API tokens of the flag service: recorded once, revoked for good."""

from __future__ import annotations

import time

from rollsafe.errors import ConflictError, NotFoundError
from rollsafe.journal.kinds import Kind
from rollsafe.store import rows as record
from rollsafe.store.records import TokenRecord, TokenScope
from rollsafe.store.rules.flags import check_environment
from rollsafe.store.transaction import Reader, Transaction


def add(tx: Transaction, token: TokenRecord, *, actor: str) -> None:
    if token.environment != "*":
        check_environment(tx, token.environment)
    inserted = tx.one(
        "INSERT INTO api_tokens (id, name, scope, environment, sha256, created_at,"
        " created_by, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO NOTHING RETURNING id",
        (token.id, token.name, TokenScope(token.scope).value, token.environment, token.sha256,
         token.created_at, token.created_by, token.revoked_at),
    )  # fmt: skip
    if inserted is None:
        raise ConflictError(f"token {token.id!r} already exists")
    data = {
        "id": token.id,
        "name": token.name,
        "scope": token.scope,
        "environment": token.environment,
    }
    tx.journal(Kind.TOKEN_CREATED, data, actor=actor, rollout_id=None)


def get(db: Reader, token_id: str) -> TokenRecord:
    row = db.one("SELECT * FROM api_tokens WHERE id = ?", (token_id,))
    if row is None:
        raise NotFoundError(f"no token {token_id!r}")
    return record.token(row)


def listed(db: Reader) -> list[TokenRecord]:
    rows = db.all('SELECT * FROM api_tokens ORDER BY created_at, id COLLATE "C"')
    return [record.token(row) for row in rows]


def revoke(tx: Transaction, token_id: str, *, actor: str) -> None:
    """Revoke a token for good; revoking a revoked token changes nothing."""
    row = tx.one("SELECT * FROM api_tokens WHERE id = ?", (token_id,))
    if row is None:
        raise NotFoundError(f"no token {token_id!r}")
    if row["revoked_at"] is None:
        tx.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", (time.time(), token_id))
        tx.journal(Kind.TOKEN_REVOKED, {"id": token_id}, actor=actor, rollout_id=None)
