"""The client endpoint: the whole state as an Unleash document, with an ETag and 304."""

from __future__ import annotations

from pathlib import Path

import httpx

from rollsafe.flags import Engine, rollout_feature
from rollsafe.server import BackgroundServer
from rollsafe.store.sqlite import SqliteStore
from tests.server.servers import FAST, Tokens, bearer


def test_the_state_is_an_unleash_document_the_engine_reads(
    server: BackgroundServer, tokens: Tokens, store: SqliteStore
) -> None:
    store.put_flag("checkout", rollout_feature("checkout", 100), actor="test")
    store.put_flag("search", rollout_feature("search", 0, enabled=False), actor="test")
    server_poll = httpx.get(f"{server.url}/api/client/features", headers=bearer(tokens.client))
    document = server_poll.json()
    assert document["meta"] == {"revision": 2, "environment": "default"}
    engine = Engine.from_unleash(document, strict=True)
    assert engine.is_enabled("checkout", {"userId": "u1"})
    assert not engine.is_enabled("search", {"userId": "u1"})


def test_an_unchanged_state_answers_304_and_a_change_a_new_etag(
    server: BackgroundServer, tokens: Tokens, store: SqliteStore
) -> None:
    url = f"{server.url}/api/client/features"
    first = httpx.get(url, headers=bearer(tokens.client))
    etag = first.headers["etag"]
    again = httpx.get(url, headers={**bearer(tokens.client), "If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    store.put_flag("checkout", rollout_feature("checkout", 5), actor="another process")
    # The server notices writes of other processes within its poll interval (20 ms here).
    for _ in range(200):
        changed = httpx.get(url, headers={**bearer(tokens.client), "If-None-Match": etag})
        if changed.status_code == 200:
            break
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert [f["name"] for f in changed.json()["features"]] == ["checkout"]


def test_an_etag_list_or_weak_etag_matches(server: BackgroundServer, tokens: Tokens) -> None:
    url = f"{server.url}/api/client/features"
    etag = httpx.get(url, headers=bearer(tokens.client)).headers["etag"]
    listed = httpx.get(url, headers={**bearer(tokens.client), "If-None-Match": f'"x", W/{etag}'})
    assert listed.status_code == 304
    other = httpx.get(url, headers={**bearer(tokens.client), "If-None-Match": '"x"'})
    assert other.status_code == 200


def test_a_write_through_the_api_is_visible_to_the_next_read(
    api: httpx.Client, server: BackgroundServer, tokens: Tokens
) -> None:
    api.put(
        "/api/admin/flags/checkout",
        json={"definition": rollout_feature("checkout", 5), "expected_version": 0},
    )
    document = httpx.get(f"{server.url}/api/client/features", headers=bearer(tokens.client)).json()
    assert [f["name"] for f in document["features"]] == ["checkout"]


def test_health_needs_no_token(server: BackgroundServer) -> None:
    assert httpx.get(f"{server.url}/health").json()["status"] == "ok"


def test_a_server_opens_its_store_from_an_address_string(
    db: Path, tokens: Tokens, store: SqliteStore
) -> None:
    store.put_flag("checkout", rollout_feature("checkout", 100), actor="test")
    # The home directory as `--store` / ROLLSAFE_STORE give it: its rollsafe.db is served.
    with BackgroundServer(str(db.parent), FAST) as server:
        health = httpx.get(f"{server.url}/health").json()
        assert health["notifications"] == "off"  # SQLite cannot notify: the feed polls
        document = httpx.get(f"{server.url}/api/client/features", headers=bearer(tokens.client))
        assert [f["name"] for f in document.json()["features"]] == ["checkout"]
