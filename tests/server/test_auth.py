"""API tokens: scopes, 401/403 with JSON messages, stored as digests, revocation (streams too)."""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
import time
from pathlib import Path

import httpx

from rollsafe.server import BackgroundServer, ServerSettings
from rollsafe.server.tokens import new_token
from rollsafe.store.records import TokenScope
from rollsafe.store.sqlite import SqliteStore
from tests.server.servers import FAST, StreamReader, Tokens, bearer, in_thread


def test_a_request_without_a_token_gets_401_saying_how_to_authenticate(
    server: BackgroundServer,
) -> None:
    response = httpx.get(f"{server.url}/api/client/features")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"] == "unauthorized"
    assert "Authorization: Bearer" in response.json()["message"]


def test_unknown_and_forged_tokens_get_401(server: BackgroundServer, tokens: Tokens) -> None:
    token_id = tokens.client.split(".")[0]
    for token in ("nonsense", f"{token_id}.forged-secret", tokens.client + "x"):
        response = httpx.get(f"{server.url}/api/client/features", headers=bearer(token))
        assert response.status_code == 401, token
        assert response.json()["message"] == "invalid or revoked API token"


def test_a_client_token_reads_but_may_not_write(server: BackgroundServer, tokens: Tokens) -> None:
    client = bearer(tokens.client)
    assert httpx.get(f"{server.url}/api/client/features", headers=client).status_code == 200
    for method, path in (("GET", "/api/admin/flags"), ("POST", "/api/admin/flags/x/kill")):
        response = httpx.request(method, f"{server.url}{path}", headers=client)
        assert response.status_code == 403
        assert "needs an admin token" in response.json()["message"]


def test_an_unleash_style_bare_token_is_accepted(server: BackgroundServer, tokens: Tokens) -> None:
    response = httpx.get(
        f"{server.url}/api/client/features", headers={"Authorization": tokens.client}
    )
    assert response.status_code == 200


def test_tokens_are_stored_only_as_sha256_digests(db: Path, tokens: Tokens) -> None:
    rows = sqlite3.connect(db).execute("SELECT * FROM api_tokens").fetchall()
    dump = repr(rows)
    for token in (tokens.admin, tokens.client):
        secret = token.split(".", 1)[1]
        assert secret not in dump
        assert hashlib.sha256(token.encode()).hexdigest() in dump


def test_a_revoked_token_is_refused_at_once(server: BackgroundServer, tokens: Tokens) -> None:
    admin = bearer(tokens.admin)
    created = httpx.post(
        f"{server.url}/api/admin/tokens", json={"name": "temp", "scope": "client"}, headers=admin
    ).json()
    temp = bearer(created["token"])
    assert httpx.get(f"{server.url}/api/client/features", headers=temp).status_code == 200
    revoked = httpx.delete(f"{server.url}/api/admin/tokens/{created['id']}", headers=admin)
    assert revoked.json()["revoked_at"] is not None
    assert httpx.get(f"{server.url}/api/client/features", headers=temp).status_code == 401


def test_the_openapi_document_is_published_without_a_token(server: BackgroundServer) -> None:
    document = httpx.get(f"{server.url}/openapi.json").json()
    paths = document["paths"]
    assert {"/api/admin/flags/{name}", "/api/client/features", "/api/client/stream"} <= set(paths)
    assert "409" in paths["/api/admin/flags/{name}"]["put"]["responses"]
    assert "text/event-stream" in paths["/api/client/stream"]["get"]["responses"]["200"]["content"]


def test_an_open_stream_ends_within_seconds_once_its_token_is_revoked_elsewhere(
    db: Path, tokens: Tokens
) -> None:
    # The default token_cache_ttl: what "within seconds" means for a real deployment.
    ttl = ServerSettings().token_cache_ttl
    store = SqliteStore(db)
    secret, record = new_token("temp", TokenScope.CLIENT, created_by="test")
    store.add_token(record, actor="test")
    server = in_thread(db, dataclasses.replace(FAST, token_cache_ttl=ttl))
    stream = f"{server.url}/api/client/stream"
    reader, kept = StreamReader(stream, secret), StreamReader(stream, tokens.client)
    try:
        reader.wait_for(1)
        kept.wait_for(1)
        started = time.monotonic()
        store.revoke_token(record.id, actor="another process")  # as `rollsafe server token revoke`
        assert reader.closed.wait(ttl + 1.0)
        assert time.monotonic() - started < ttl + 1.0
        assert reader.lines[-2:] == [": closed: API token 'temp' was revoked", ""]
        with httpx.stream("GET", stream, headers=bearer(secret), timeout=5) as again:
            assert again.status_code == 401
        assert not kept.closed.is_set()
    finally:
        reader.close()
        kept.close()
        server.stop()
        store.close()
