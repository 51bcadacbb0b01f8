"""Incremental, bounded parsers for reading an event stream off the wire.

`SSEParser`: the Server-Sent Events format (WHATWG event-stream). Feed it bytes
as they arrive; it returns the complete events. Comments (the server's
heartbeats) produce no event but still count as liveness for the caller, which
sees bytes arrive. `parse_head` and `ChunkedDecoder`: the HTTP/1.1 response head
and chunked body around it, for the asyncio client's own lean connection.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from rollsafe.errors import EventTooLargeError as EventTooLargeError
from rollsafe.errors import HTTPFramingError as HTTPFramingError

MAX_HEAD_BYTES = 64 * 1024
"""Longest response head (status line and headers) accepted."""
_MAX_SIZE_LINE = 4096
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")


class ServerEvent(NamedTuple):
    event: str
    data: str
    id: str | None


class SSEParser:
    def __init__(self, max_event_bytes: int = 32 * 1024 * 1024) -> None:
        self._max = max_event_bytes
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []
        self._size = 0
        self._id: str | None = None
        self.last_id: str | None = None

    def feed(self, chunk: bytes) -> list[ServerEvent]:
        events: list[ServerEvent] = []
        buffer = self._buffer + chunk if self._buffer else chunk
        end = buffer.rfind(b"\n")
        # Decoding every complete line at once (a newline byte never falls inside a
        # UTF-8 sequence) costs a third of decoding line by line; the fields are
        # handled inline for the same reason: this runs for every event of every client.
        if end >= 0:
            for line in buffer[:end].decode("utf-8", errors="replace").split("\n"):
                if line.endswith("\r"):
                    line = line[:-1]
                if not line:
                    if self._id is not None:
                        self.last_id = self._id
                    if self._data:
                        data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
                        events.append(ServerEvent(self._event or "message", data, self._id))
                    self._event, self._data, self._size, self._id = "", [], 0, None
                    continue
                if line[0] == ":":
                    continue
                field, _, value = line.partition(":")
                if value[:1] == " ":
                    value = value[1:]
                if field == "data":
                    self._data.append(value)
                    self._size += len(value)
                    if self._size > self._max:
                        raise EventTooLargeError(f"a server event exceeds {self._max} bytes")
                elif field == "event":
                    self._event = value
                elif field == "id" and "\0" not in value:
                    self._id = value
        self._buffer = buffer[end + 1 :]
        if len(self._buffer) + self._size > self._max:
            raise EventTooLargeError(f"a server event exceeds {self._max} bytes")
        return events


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and headers (names lower-cased; repeats joined by commas) of a response
    head without its final blank line; raises `HTTPFramingError`."""
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    status = rest.partition(" ")[0]
    if not version.startswith("HTTP/1.") or not (status.isdigit() and len(status) == 3):
        raise HTTPFramingError(f"not an HTTP/1.x status line: {lines[0][:100]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        name = name.strip().lower()
        if not colon or not name:
            raise HTTPFramingError(f"malformed header line: {line[:100]!r}")
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return int(status), headers


class ChunkedDecoder:
    """Incremental decoder of an HTTP/1.1 ``Transfer-Encoding: chunked`` body.

    `feed` returns the payload bytes received so far; ``done`` turns true after
    the last chunk and its trailers. Raises `HTTPFramingError` on malformed
    framing; buffers at most one chunk-size line.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._remaining = 0
        self._crlf = False
        self._trailers = False
        self.done = False

    def feed(self, data: bytes) -> bytes:
        if self._buffer:
            data, self._buffer = self._buffer + data, b""
        elif not self._remaining and not self._crlf and not self._trailers:
            # The usual read: exactly one whole chunk (one event), sliced out at once.
            end = data.find(b"\r\n", 0, _MAX_SIZE_LINE)
            if end > 0 and _CHUNK_SIZE.fullmatch(data, 0, end):
                size = int(data[:end], 16)
                if size and len(data) == end + size + 4 and data.endswith(b"\r\n"):
                    return data[end + 2 : end + 2 + size]
        out: list[bytes] = []
        position, size = 0, len(data)
        while position < size and not self.done:
            if self._remaining:
                end = min(size, position + self._remaining)
                out.append(data[position:end])
                self._remaining -= end - position
                self._crlf = not self._remaining
                position = end
                continue
            if self._crlf:
                if size - position < 2:
                    break
                if data[position : position + 2] != b"\r\n":
                    raise HTTPFramingError("a chunk does not end with CRLF")
                position += 2
                self._crlf = False
                continue
            end = data.find(b"\r\n", position)
            if end < 0:
                if size - position > _MAX_SIZE_LINE:
                    raise HTTPFramingError("a chunk-size line is too long")
                break
            line = data[position:end]
            position = end + 2
            if self._trailers:
                self.done = not line  # trailer fields are ignored; a blank line ends them
                continue
            digits = line.split(b";", 1)[0].strip()
            if not _CHUNK_SIZE.fullmatch(digits):
                raise HTTPFramingError(f"bad chunk size {line[:40]!r}")
            self._remaining = int(digits, 16)
            self._trailers = not self._remaining
        self._buffer = data[position:]
        return out[0] if len(out) == 1 else b"".join(out)
