"""An admin token bound to one environment sees only that environment's tokens (issue 17, 16)."""

from __future__ import annotations

import httpx

from rollsafe.server import BackgroundServer
from rollsafe.server.tokens import new_token
from rollsafe.store.records import TokenScope
from rollsafe.store.sqlite import SqliteStore
from tests.server.servers import Tokens, bearer


def test_an_environment_admin_lists_only_its_environments_tokens(
    server: BackgroundServer, tokens: Tokens, store: SqliteStore
) -> None:
    del tokens
    store.create_environment("staging", actor="test")
    store.create_environment("prod", actor="test")
    secrets = {}
    for name, scope, environment in (
        ("staging-admin", TokenScope.ADMIN, "staging"),
        ("staging-shop", TokenScope.CLIENT, "staging"),
        ("prod-shop", TokenScope.CLIENT, "prod"),
    ):
        secret, record = new_token(name, scope, environment=environment, created_by="test")
        store.add_token(record, actor="test")
        secrets[name] = secret
    listed = httpx.get(f"{server.url}/api/admin/tokens", headers=bearer(secrets["staging-admin"]))
    assert listed.status_code == 200
    assert sorted(t["name"] for t in listed.json()) == ["staging-admin", "staging-shop"]


def test_an_all_environments_admin_lists_every_token(api: httpx.Client, store: SqliteStore) -> None:
    store.create_environment("prod", actor="test")
    _, record = new_token("prod-shop", TokenScope.CLIENT, environment="prod", created_by="test")
    store.add_token(record, actor="test")
    names = sorted(t["name"] for t in api.get("/api/admin/tokens").json())
    assert names == ["ops", "prod-shop", "shop"]
