"""A Server-Sent Events stream read on a plain asyncio HTTP/1.1 connection.

Used by `rollsafe.sdk.aio.AsyncFlagClient` (see its module doc for why it does
not read the stream through httpx): each event is parsed and applied in the
loop's read callback as its bytes arrive. The stream knows the client only
through the callback it is given, so this module does not import ``aio``.
"""

from __future__ import annotations

import asyncio
import threading
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rollsafe.sdk.sse import (
    MAX_HEAD_BYTES,
    ChunkedDecoder,
    HTTPFramingError,
    ServerEvent,
    SSEParser,
    parse_head,
)

if TYPE_CHECKING:
    import httpx

OnEvent = Callable[[ServerEvent], bool]
"""Applies one event; True for the connected event. Raising drops the stream."""


def lean_stream_reaches(url: str) -> bool:
    """Whether the lean connection can stream from ``url``: plain HTTP(S) without
    credentials in the URL, and no proxy from the environment for it (httpx honours
    those, and so must the client)."""
    target = urlsplit(url)
    if target.scheme not in ("http", "https") or not target.hostname:
        return False
    if target.username is not None or target.password is not None:
        return False
    proxies = urllib.request.getproxies()
    if not (proxies.get(target.scheme) or proxies.get("all")):
        return True
    return bool(urllib.request.proxy_bypass(target.hostname))


def request_head(target: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {target} HTTP/1.1"]
    for name, value in headers.items():
        if any(c in value for c in "\r\n\0"):
            raise ValueError(f"header {name} holds a line break")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


_READ_BYTES = 64 * 1024
_read_buffers = threading.local()


def _read_buffer() -> memoryview:
    """The calling thread's receive buffer, shared by its streams.

    Sharing is safe: a loop runs one callback at a time, and `EventStream`
    copies what it read out of the buffer before returning. Without a buffer of
    its own, asyncio's transport allocates 256 KiB for every read (``recv``'s
    maximum size), which glibc serves with mmap and munmap: about 20 µs per read
    on a small VM, where reading the event itself takes 3 µs.
    """
    buffer: memoryview | None = getattr(_read_buffers, "buffer", None)
    if buffer is None:
        buffer = _read_buffers.buffer = memoryview(bytearray(_READ_BYTES))
    return buffer


class EventStream(asyncio.BufferedProtocol):
    """One stream response: each event handed to ``on_event`` as it is read.

    ``closed`` resolves when the connection ends: None at the end of the body or
    the connection, the error otherwise (the transport is then aborted). A
    response other than 200 is read whole (up to `MAX_HEAD_BYTES`) for
    `error_response`; its body never reaches the SSE parser.
    """

    def __init__(
        self,
        on_event: OnEvent,
        max_event_bytes: int,
        loop: asyncio.AbstractEventLoop,
        connected: list[bool],
    ) -> None:
        self._on_event = on_event
        self._clock = loop.time
        self._connected = connected
        self._transport: asyncio.Transport | None = None
        self._buffer = _read_buffer()
        self._head = b""
        self._chunked: ChunkedDecoder | None = None
        self._length: int | None = None  # bytes of body left, when the head gave a length
        self._parser = SSEParser(max_event_bytes)
        self._body = bytearray()  # only for a response other than 200
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.last_data = loop.time()
        self.closed: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.status is None and exc is None:
            exc = ConnectionError("the connection closed before the response")
        self._finish(exc)

    def eof_received(self) -> bool:
        return False  # close the transport: a half-closed stream has nothing more to say

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self._received(bytes(self._buffer[:nbytes]))

    def _received(self, data: bytes) -> None:
        self.last_data = self._clock()
        if self.closed.done():
            return
        try:
            while self.status is None:
                self._head += data
                end = self._head.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._head) > MAX_HEAD_BYTES:
                        raise HTTPFramingError(f"a response head over {MAX_HEAD_BYTES} bytes")
                    return
                status, headers = parse_head(self._head[:end])
                self._head, data = b"", self._head[end + 4 :]
                if not 100 <= status < 200:  # an interim response (100, 103): the real one follows
                    self._start(status, headers)
            self._receive(data)
        except Exception as error:  # the stream is in an unknown state: drop it
            self._finish(error)

    def _start(self, status: int, headers: dict[str, str]) -> None:
        self.status, self.headers = status, headers
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            self._chunked = ChunkedDecoder()
        elif self.headers.get("content-length", "").isdigit():
            self._length = int(self.headers["content-length"])

    def _receive(self, data: bytes) -> None:
        if self._chunked is not None:
            data = self._chunked.feed(data)
        elif self._length is not None:
            data = data[: self._length]
            self._length -= len(data)
        if self.status != 200:
            self._body += data[: MAX_HEAD_BYTES - len(self._body)]
        elif data:
            on_event, connected = self._on_event, self._connected
            for event in self._parser.feed(data):
                if on_event(event):
                    connected[0] = True
        if self._length == 0 or (self._chunked is not None and self._chunked.done):
            self._finish(None)

    def _finish(self, error: BaseException | None) -> None:
        if not self.closed.done():
            if error is None:
                self.closed.set_result(None)
            else:
                self.closed.set_exception(error)
        if self._transport is not None:
            self._transport.abort()

    def error_response(self, url: str) -> httpx.Response:
        """The response other than 200, as httpx would have returned it (for `check_status`)."""
        import httpx  # on first use: `import rollsafe.sdk` stays light

        assert self.status is not None
        return httpx.Response(
            self.status,
            headers=self.headers,
            content=bytes(self._body),
            request=httpx.Request("GET", url),
        )
