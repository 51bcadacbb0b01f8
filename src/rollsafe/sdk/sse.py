"""An incremental Server-Sent Events parser (the WHATWG event-stream format), bounded.

Feed it bytes as they arrive; it returns the complete events. Comments (the
server's heartbeats) produce no event but still count as liveness for the
caller, which sees bytes arrive.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerEvent:
    event: str
    data: str
    id: str | None


class EventTooLargeError(ValueError):
    """One event exceeded the parser's limit; the stream should be dropped."""


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
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = buffer[start:end]
            start = end + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            event = self._line(line.decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        self._buffer = buffer[start:]
        if len(self._buffer) + self._size > self._max:
            raise EventTooLargeError(f"a server event exceeds {self._max} bytes")
        return events

    def _line(self, line: str) -> ServerEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            self._data.append(value)
            self._size += len(value)
            if self._size > self._max:
                raise EventTooLargeError(f"a server event exceeds {self._max} bytes")
        elif field == "event":
            self._event = value
        elif field == "id" and "\0" not in value:
            self._id = value
        return None

    def _dispatch(self) -> ServerEvent | None:
        if self._id is not None:
            self.last_id = self._id
        event = None
        if self._data:
            event = ServerEvent(self._event or "message", "\n".join(self._data), self._id)
        self._event, self._data, self._size, self._id = "", [], 0, None
        return event
