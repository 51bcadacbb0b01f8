from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rollsafe.server import BackgroundServer
from rollsafe.store.sqlite import SqliteStore
from tests.server.servers import Tokens, in_thread, make_tokens


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "home" / "rollsafe.db"


@pytest.fixture
def tokens(db: Path) -> Tokens:
    return make_tokens(db)


@pytest.fixture
def server(db: Path, tokens: Tokens) -> Iterator[BackgroundServer]:
    del tokens
    server = in_thread(db)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def api(server: BackgroundServer, tokens: Tokens) -> Iterator[httpx.Client]:
    """An admin client of the server."""
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {tokens.admin}"}, timeout=5
    ) as client:
        yield client


@pytest.fixture
def store(db: Path, tokens: Tokens) -> Iterator[SqliteStore]:
    """The server's store, opened separately (as another process would)."""
    del tokens
    store = SqliteStore(db)
    try:
        yield store
    finally:
        store.close()
