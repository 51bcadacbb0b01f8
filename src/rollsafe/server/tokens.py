"""API tokens: random secrets handed out once, stored as SHA-256 digests, checked in constant time.

A token reads ``rs_<id>.<secret>``: the id (not secret) finds the stored record,
the digest of the whole token is compared with `hmac.compare_digest`, so neither
a database lookup nor the comparison leaks how much of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from rollsafe.errors import NotFoundError
from rollsafe.store.protocol import Store
from rollsafe.store.records import TokenRecord, TokenScope

PREFIX = "rs_"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(
    name: str, scope: TokenScope, *, environment: str = "*", created_by: str
) -> tuple[str, TokenRecord]:
    """A fresh token and the record to store; the token itself is never stored."""
    token_id = secrets.token_hex(6)
    token = f"{PREFIX}{token_id}.{secrets.token_urlsafe(32)}"
    record = TokenRecord(
        id=token_id,
        name=name,
        scope=scope,
        environment=environment,
        sha256=digest(token),
        created_at=time.time(),
        created_by=created_by,
    )
    return token, record


def token_id_of(token: str) -> str | None:
    """The id part of a well-formed token, or None."""
    if not token.startswith(PREFIX) or "." not in token:
        return None
    token_id = token[len(PREFIX) :].split(".", 1)[0]
    return token_id if token_id.isalnum() else None


def verify(store: Store, token: str) -> TokenRecord | None:
    """The live record ``token`` belongs to, or None (unknown, wrong secret or revoked)."""
    token_id = token_id_of(token)
    if token_id is None:
        return None
    try:
        record = store.get_token(token_id)
    except NotFoundError:
        return None
    if not hmac.compare_digest(digest(token), record.sha256):
        return None
    return record if record.revoked_at is None else None
