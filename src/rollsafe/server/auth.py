"""Who is calling: a bearer token checked against the store, with its scope and environment.

``Authorization: Bearer <token>`` (or the bare token, as Unleash SDKs send it, or
``X-API-Key: <token>``, as OFREP providers may).
Missing or unknown tokens get 401, a token without the needed scope or
environment 403, each with a JSON message saying which. The app checks the token
for the scope of the path (`scope_needed`) before it reads a request's body, so a
caller without a valid token learns nothing about the body (no 413 or 422).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass

from fastapi import Request

from rollsafe.server import tokens
from rollsafe.server.errors import ApiError
from rollsafe.store.protocol import Store
from rollsafe.store.records import DEFAULT_ENVIRONMENT, TokenRecord, TokenScope

_CACHE_SIZE = 1024

SCOPE_OF_PREFIX = (
    ("/api/admin/", TokenScope.ADMIN),
    ("/api/client/", TokenScope.CLIENT),
    ("/ofrep/", TokenScope.CLIENT),
)
"""The scope every route under each prefix needs, checked before anything else is read."""


def scope_needed(path: str) -> TokenScope | None:
    """The token scope a request to ``path`` needs, or None for public paths."""
    for prefix, scope in SCOPE_OF_PREFIX:
        if path.startswith(prefix):
            return scope
    return None


@dataclass(frozen=True)
class Caller:
    token: TokenRecord
    actor: str
    """Who to journal changes as: ``token <name>``, or ``<X-Rollsafe-Actor> via token <name>``."""

    def environment(self, requested: str | None) -> str:
        """The environment a request works in; 403 if its token may not use it."""
        allowed = self.token.environment
        environment = requested or (DEFAULT_ENVIRONMENT if allowed == "*" else allowed)
        if allowed not in ("*", environment):
            raise ApiError(
                403,
                "forbidden",
                f"token {self.token.name!r} may only use environment {allowed!r}, "
                f"not {environment!r}",
            )
        return environment


class Authenticator:
    """Verifies tokens, remembering good ones for ``ttl`` seconds (bounded, LRU)."""

    def __init__(self, store: Store, ttl: float) -> None:
        self._store = store
        self._ttl = ttl
        self._lock = threading.Lock()
        self._cache: collections.OrderedDict[str, tuple[float, TokenRecord]] = (
            collections.OrderedDict()
        )

    def forget(self) -> None:
        """Drop cached verdicts (after a token was revoked here)."""
        with self._lock:
            self._cache.clear()

    def drop(self, token_ids: Collection[str]) -> None:
        """Drop cached verdicts for these tokens (found revoked by another process)."""
        with self._lock:
            for key in [k for k, (_, record) in self._cache.items() if record.id in token_ids]:
                del self._cache[key]

    def verify(self, token: str) -> TokenRecord | None:
        now = time.monotonic()
        key = tokens.digest(token)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] > now:
                self._cache.move_to_end(key)
                return cached[1]
        record = tokens.verify(self._store, token)
        if record is not None:
            with self._lock:
                self._cache[key] = (now + self._ttl, record)
                while len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
        return record

    def caller(self, request: Request, scope: TokenScope) -> Caller:
        header = request.headers.get("authorization", "").strip()
        presented = header[7:].strip() if header.lower().startswith("bearer ") else header
        if not presented:  # OFREP providers may send the token as X-API-Key
            presented = request.headers.get("x-api-key", "").strip()
        if not presented:
            raise ApiError(
                401,
                "unauthorized",
                "missing API token: send 'Authorization: Bearer <token>' "
                "(create one with 'rollsafe server token create')",
                headers={"WWW-Authenticate": "Bearer"},
            )
        record = self.verify(presented)
        if record is None:
            raise ApiError(
                401,
                "unauthorized",
                "invalid or revoked API token",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if scope is TokenScope.ADMIN and record.scope is not TokenScope.ADMIN:
            raise ApiError(
                403,
                "forbidden",
                f"token {record.name!r} has scope {record.scope.value!r}; "
                "this endpoint needs an admin token",
            )
        who = request.headers.get("x-rollsafe-actor", "").strip()[:100]
        actor = f"{who} via token {record.name}" if who else f"token {record.name}"
        return Caller(record, actor)
