"""The lean SSE stream on its own: it hands events to the callback it is given and
needs no client (it used to call `AsyncFlagClient._on_event`, importing ``aio`` back;
the import-linter contract on ``rollsafe.sdk.eventstream`` keeps it so)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from rollsafe.sdk.eventstream import EventStream, request_head
from rollsafe.sdk.sse import ServerEvent
from tests.sdk.fakes import ScriptedStream

SCRIPT = b"event: connected\nid: 1\ndata: {}\n\nevent: updated\nid: 2\ndata: {}\n\n"


@pytest.fixture
def server() -> Iterator[ScriptedStream]:
    server = ScriptedStream([SCRIPT])
    yield server
    server.close()


async def _read(
    server: ScriptedStream, on_event: Callable[[ServerEvent], bool], seen: list[ServerEvent]
) -> tuple[EventStream, bool]:
    """Read a stream from ``server`` until two events are ``seen`` or the stream closes;
    the stream, and whether it counted itself connected."""
    loop = asyncio.get_running_loop()
    connected = [False]
    stream = EventStream(on_event, 1024, loop, connected)
    host, port = server.url.removeprefix("http://").split(":")
    transport, _ = await loop.create_connection(lambda: stream, host, int(port))
    transport.write(request_head("/api/client/stream", {"Host": f"{host}:{port}"}))
    async with asyncio.timeout(5):
        while len(seen) < 2 and not stream.closed.done():
            await asyncio.sleep(0.01)
    transport.abort()
    return stream, connected[0]


def test_events_reach_the_callback_it_was_given(server: ScriptedStream) -> None:
    seen: list[ServerEvent] = []

    def on_event(event: ServerEvent) -> bool:
        seen.append(event)
        return event.event == "connected"

    stream, connected = asyncio.run(_read(server, on_event, seen))
    assert stream.status == 200
    assert connected
    assert [(event.event, event.id) for event in seen] == [("connected", "1"), ("updated", "2")]


def test_a_callback_that_raises_drops_the_stream_with_its_error(server: ScriptedStream) -> None:
    seen: list[ServerEvent] = []

    def on_event(event: ServerEvent) -> bool:
        seen.append(event)
        raise ValueError("cannot apply")

    stream, connected = asyncio.run(_read(server, on_event, seen))
    assert not connected
    assert len(seen) == 1  # the rest of the read was dropped with the stream
    assert isinstance(stream.closed.exception(), ValueError)
