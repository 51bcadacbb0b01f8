"""The asyncio SDK against a real server: streaming, outage defaults, store source."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from rollsafe.flags import rollout_feature
from rollsafe.sdk import AsyncFlagClient
from rollsafe.server import BackgroundServer
from rollsafe.store.sqlite import SqliteStore
from tests.server.servers import Tokens, free_port

USER = {"userId": "alice"}


async def until(predicate: object, timeout: float = 5.0) -> bool:
    assert callable(predicate)
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


def test_changes_stream_to_an_async_client(
    server: BackgroundServer, tokens: Tokens, api: httpx.Client
) -> None:
    async def scenario() -> None:
        async with AsyncFlagClient(server.url, tokens.client) as client:
            assert await client.wait_until_ready(5)
            assert client.status == "streaming"
            response = await asyncio.to_thread(
                api.put,
                "/api/admin/flags/checkout",
                json={"definition": rollout_feature("checkout", 100), "expected_version": 0},
            )
            assert response.status_code == 201
            assert await until(lambda: client.is_enabled("checkout", USER))
            await asyncio.to_thread(api.post, "/api/admin/flags/checkout/kill")
            assert await until(lambda: not client.is_enabled("checkout", USER), timeout=1)
        assert client.status == "stopped"

    asyncio.run(scenario())


def test_an_async_client_with_the_service_down_answers_defaults(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="rollsafe.sdk")

    async def scenario() -> None:
        url = f"http://127.0.0.1:{free_port()}"
        async with AsyncFlagClient(url, "rs_x.y", backoff_initial=0.05) as client:
            assert await until(lambda: "unavailable" in caplog.text, timeout=3)
            assert client.is_enabled("anything", USER, default=True)
            assert not await client.wait_until_ready(0.05)

    asyncio.run(scenario())


def test_an_async_client_follows_the_store(tmp_path: Path) -> None:
    db = tmp_path / "rollsafe.db"
    store = SqliteStore(db)
    store.put_flag("checkout", rollout_feature("checkout", 100), actor="test")

    async def scenario() -> None:
        async with AsyncFlagClient(store=db, store_interval=0.02) as client:
            assert client.is_enabled("checkout", USER)
            await asyncio.to_thread(
                store.put_flag,
                "checkout",
                rollout_feature("checkout", 100, enabled=False),
                actor="test",
            )
            assert await until(lambda: not client.is_enabled("checkout", USER), timeout=3)

    asyncio.run(scenario())
    store.close()
