"""The asyncio SDK against a real server: streaming (on its own connection, or through
httpx behind a proxy), refusals, outage defaults, store source, fork."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rollsafe.flags import rollout_feature
from rollsafe.sdk import AsyncFlagClient, FlagsChanged
from rollsafe.server import BackgroundServer
from rollsafe.store.sqlite import SqliteStore
from tests.sdk.fakes import ForwardProxy, ScriptedStream
from tests.server.servers import Tokens, eventually, free_port

USER = {"userId": "alice"}


def on(name: str) -> dict[str, object]:
    return rollout_feature(name, 100)


def off(name: str) -> dict[str, object]:
    return rollout_feature(name, 100, enabled=False)


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


def test_a_refused_token_is_reported_and_never_applied(
    server: BackgroundServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="rollsafe.sdk")

    async def scenario() -> None:
        async with AsyncFlagClient(server.url, "rs_not.valid", backoff_initial=0.05) as client:
            assert await until(lambda: "HTTP 401" in caplog.text, timeout=3)
            assert client.status == "disconnected"
            assert not client.ready

    asyncio.run(scenario())


def test_a_service_without_a_stream_is_polled_instead() -> None:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tests.demo.servers import Server

    document = {"version": 1, "features": [on("checkout")], "meta": {"revision": 3}}

    async def features(request: object) -> JSONResponse:
        del request
        return JSONResponse(document)

    legacy = Server(Starlette(routes=[Route("/api/client/features", features)])).start()

    async def scenario() -> None:
        async with AsyncFlagClient(legacy.url, "t", poll_interval=0.05) as client:
            assert await until(lambda: client.is_enabled("checkout", USER), timeout=3)
            assert client.status == "polling"
            assert client.revision == 3

    try:
        asyncio.run(scenario())
    finally:
        legacy.stop()


CONNECTED = (
    b"id: 7\nevent: unleash-connected\ndata: "
    b'{"events": [{"type": "hydration", "features": '
    b'[{"name": "f", "enabled": true, "strategies": []}], "segments": []}]}\n\n'
)


def test_a_silent_stream_is_dropped_and_resumed_from_the_last_event_id() -> None:
    fake = ScriptedStream([CONNECTED, b""])  # no length, no chunks: the body ends at close

    async def scenario() -> None:
        async with AsyncFlagClient(
            fake.url, "rs_a.b", heartbeat_timeout=0.3, backoff_initial=0.05
        ) as client:
            assert await until(lambda: len(fake.requests) >= 2, timeout=3)
            assert client.is_enabled("f", USER)
            assert client.revision == 7

    try:
        asyncio.run(scenario())
        (first_at, first), (second_at, second) = fake.requests[:2]
        assert first.startswith("GET /api/client/stream?environment=default HTTP/1.1\r\n")
        assert "last-event-id" not in first.lower()
        assert "last-event-id: 7" in second.lower()
        assert "authorization: bearer rs_a.b" in second.lower()
        assert 0.3 <= second_at - first_at < 1.5
    finally:
        fake.close()


def test_an_event_it_cannot_apply_drops_the_stream_and_starts_again_from_scratch() -> None:
    broken = b"id: 8\nevent: unleash-updated\ndata: {not json\n\n"
    fake = ScriptedStream([CONNECTED + broken, b""])

    async def scenario() -> None:
        async with AsyncFlagClient(fake.url, "rs_a.b", backoff_initial=0.05) as client:
            assert await until(lambda: len(fake.requests) >= 2, timeout=3)
            assert client.is_enabled("f", USER), "the state before the bad event stays"

    try:
        asyncio.run(scenario())
        assert "last-event-id" not in fake.requests[1][1].lower()
    finally:
        fake.close()


def test_a_chunked_stream_after_an_interim_response_is_read() -> None:
    head = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    update = (
        b'id: 9\nevent: unleash-updated\ndata: {"events": [{"type": "feature-updated", '
        b'"feature": {"name": "g", "enabled": true}}]}\n\n'
    )
    body = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (CONNECTED, update))
    fake = ScriptedStream([body], head=head)

    async def scenario() -> None:
        async with AsyncFlagClient(fake.url, "rs_a.b") as client:
            assert await until(lambda: client.is_enabled("g", USER), timeout=3)
            assert client.revision == 9
            assert client.status == "streaming"

    try:
        asyncio.run(scenario())
    finally:
        fake.close()


def test_a_stream_whose_body_ends_is_opened_again_from_where_it_was() -> None:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Content-Length: %d\r\n\r\n" % len(CONNECTED)
    )
    fake = ScriptedStream([CONNECTED, b""], head=head)

    async def scenario() -> None:
        async with AsyncFlagClient(fake.url, "rs_a.b", backoff_initial=0.05) as client:
            assert await until(lambda: len(fake.requests) >= 2, timeout=3)
            assert client.is_enabled("f", USER)

    try:
        asyncio.run(scenario())
        assert "last-event-id: 7" in fake.requests[1][1].lower()
    finally:
        fake.close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ForwardProxy]:
    proxy = ForwardProxy()
    for variable in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    try:
        yield proxy
    finally:
        proxy.close()


def test_a_proxy_from_the_environment_carries_the_stream(
    server: BackgroundServer, tokens: Tokens, store: SqliteStore, proxy: ForwardProxy
) -> None:
    async def scenario() -> None:
        async with AsyncFlagClient(server.url, tokens.client) as client:
            assert await client.wait_until_ready(5)
            assert client.status == "streaming"
            await asyncio.to_thread(store.put_flag, "checkout", on("checkout"), actor="test")
            assert await until(lambda: client.is_enabled("checkout", USER))

    asyncio.run(scenario())
    assert proxy.requests == [f"GET {server.url}/api/client/stream?environment=default"]


def test_listeners_hear_each_streamed_change(
    server: BackgroundServer, tokens: Tokens, store: SqliteStore
) -> None:
    heard: list[FlagsChanged] = []

    async def scenario() -> None:
        async with AsyncFlagClient(server.url, tokens.client) as client:
            client.add_listener(heard.append)
            assert await client.wait_until_ready(5)
            for name in ("a", "b", "c"):
                await asyncio.to_thread(store.put_flag, name, on(name), actor="test")
            await asyncio.to_thread(store.delete_flag, "b", actor="test")
            assert await until(lambda: "b" not in client and client.is_enabled("c", USER))
            assert client.engine.feature_names() == ["a", "c"]
            assert client.revision == await asyncio.to_thread(store.flags_revision)

    asyncio.run(scenario())
    # The service may batch changes that come close together into one event.
    assert set().union(*(event.names for event in heard)) == {"a", "b", "c"}
    assert {event.source for event in heard} == {"stream"}


class LoopThread:
    """An event loop running in a thread of its own, as an application with a loop beside
    its main thread has."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: object, timeout: float = 10) -> object:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)  # type: ignore[arg-type]

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+ warns on fork with threads
def test_a_forked_child_restarts_its_stream_in_its_own_loop(
    server: BackgroundServer, tokens: Tokens, store: SqliteStore, db: Path
) -> None:
    store.put_flag("checkout", on("checkout"), actor="test")
    client = AsyncFlagClient(server.url, tokens.client, backoff_initial=0.05)
    parent = LoopThread()
    try:
        parent.run(client.start())
        # The server's feed may stream its first state before it noticed the write.
        assert eventually(lambda: client.is_enabled("checkout", USER))
        pid = os.fork()
        if pid == 0:  # the child: no loop thread, and the parent's connection is not its own
            code = 3
            try:

                async def child() -> int:
                    if not client.is_enabled("checkout", USER):
                        return 2  # the inherited flags serve until the restart catches up
                    writer = SqliteStore(db)
                    writer.put_flag("checkout", off("checkout"), actor="child")
                    writer.close()
                    if not await until(lambda: not client.is_enabled("checkout", USER)):
                        return 1
                    await client.aclose()
                    return 0

                code = asyncio.run(child())
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        # The parent's stream lived through the child's start, updates and exit.
        assert eventually(lambda: not client.is_enabled("checkout", USER))
        store.put_flag("checkout", on("checkout"), actor="test")
        assert eventually(lambda: client.is_enabled("checkout", USER))
        assert client.status == "streaming"
    finally:
        parent.run(client.aclose())
        parent.close()
