"""What the change feed fans out to: each environment's flags as streamed (each event
encoded once), and each open stream, written to directly."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Generator
from typing import Any

from starlette.types import Send

from rollsafe.sdk.protocol import CONNECTED, delta_event, feature_of, hydration
from rollsafe.store.records import FlagChange, TokenRecord

log = logging.getLogger(__name__)

TOO_SLOW = "too slow"


def encode(event: str, data: Any, event_id: int) -> bytes:
    """One Server-Sent Event; JSON escapes newlines, so ``data`` is a single line."""
    body = json.dumps(data, separators=(",", ":"))
    return f"id: {event_id}\nevent: {event}\ndata: {body}\n\n".encode()


class EnvironmentState:
    """The flags of one environment as last seen, tombstones included, with cached encodings."""

    __slots__ = ("_connected", "_document", "flags", "name", "revision")

    def __init__(self, name: str) -> None:
        self.name = name
        self.flags: dict[str, FlagChange] = {}
        self.revision = 0
        """The store revision of this environment's latest change (0: none yet)."""
        self._document: bytes | None = None
        self._connected: tuple[int, bytes] | None = None

    def apply(self, change: FlagChange) -> None:
        self.flags[change.name] = change
        self.revision = max(self.revision, change.revision)
        self._document = None
        self._connected = None

    def connected(self, event_id: int) -> bytes:
        """The first event of a new stream: the whole state, encoded once per change."""
        if self._connected is None or self._connected[0] != event_id:
            self._connected = (event_id, encode(CONNECTED, self.hydration(), event_id))
        return self._connected[1]

    def features(self) -> list[dict[str, Any]]:
        live = [c for c in self.flags.values() if c.definition is not None]
        return [feature_of(c) for c in sorted(live, key=lambda c: c.name)]

    def document(self) -> bytes:
        """The ``/api/client/features`` document, encoded once per change."""
        if self._document is None:
            self._document = json.dumps(
                {
                    "version": 1,
                    "features": self.features(),
                    "segments": [],
                    "meta": {"revision": self.revision, "environment": self.name},
                },
                separators=(",", ":"),
            ).encode()
        return self._document

    def etag(self) -> str:
        return f'"{self.name}:{self.revision}"'

    def hydration(self) -> dict[str, Any]:
        return hydration(self.features(), self.revision)

    def changes_after(self, revision: int) -> dict[str, Any]:
        changed = sorted(
            (c for c in self.flags.values() if c.revision > revision), key=lambda c: c.revision
        )
        return {"events": [delta_event(c) for c in changed]}


class Subscriber:
    """One open stream, written to directly by the fan-out (no task or queue of its own).

    An offered message is handed to the stream's ASGI ``send`` at once: uvicorn
    writes it to the transport without suspending unless the client is backlogged
    (its transport paused writing). Only then does the stream get a task
    (`_finish`) to complete that write, and messages offered meanwhile wait in
    ``pending``, at most ``limit`` of them; one more closes the stream as too slow.
    The stream's request coroutine meanwhile waits in ``receive()``, which returns
    when the client disconnects; `close` wakes it by cancelling it (``waking``).
    """

    __slots__ = (
        "closed",
        "environment",
        "limit",
        "opened",
        "parked",
        "pending",
        "reason",
        "send",
        "sending_since",
        "stalled",
        "task",
        "token",
        "waking",
        "writing",
    )

    def __init__(self, environment: str, limit: int, token: TokenRecord | None = None) -> None:
        self.environment = environment
        self.token = token
        """The token the stream was opened with; revoking it closes the stream."""
        self.limit = limit
        self.pending: list[bytes] | None = None
        """Messages offered while a write was under way (or before the stream started)."""
        self.send: Send | None = None
        """The stream's ASGI ``send``, once its first message is written (`start`)."""
        self.closed = False
        self.reason = ""
        self.opened = time.monotonic()
        self.sending_since = 0.0
        """Loop time a write to the client started, 0.0 when none is under way."""
        self.stalled = False
        self.task: asyncio.Task[Any] | None = None
        """The request's task, running the stream's response."""
        self.writing: asyncio.Task[None] | None = None
        """The task finishing a write the client's backlog held up, if any."""
        self.parked = False
        """True while the request's task waits in ``receive()``."""
        self.waking = False
        """True when `close` cancelled the parked request task to end the stream."""

    def start(self, send: Send) -> None:
        """Write from now on to ``send`` (after the response's start and first message)."""
        self.send = send
        self._flush()

    def offer(self, message: bytes) -> None:
        if self.closed:
            return
        if self.send is None or self.writing is not None:
            self._hold(message)
        else:
            self._write(message)

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.reason = reason
        self.pending = None
        if self.parked and self.task is not None and not self.waking:
            self.waking = True
            self.task.cancel()

    def _hold(self, message: bytes) -> None:
        pending = self.pending
        if pending is None:
            self.pending = [message]
        elif len(pending) >= self.limit:
            self.close(f"{TOO_SLOW}: its queue is full")
        else:
            pending.append(message)

    def _flush(self) -> None:
        if self.pending and not self.closed:
            chunk = b"".join(self.pending)
            self.pending = None
            self._write(chunk)

    def _write(self, body: bytes) -> None:
        """Run ``send`` up to its first suspension: for a client keeping up, all of it."""
        assert self.send is not None
        message = {"type": "http.response.body", "body": body, "more_body": True}
        step = self.send(message).__await__()
        try:
            blocker = step.send(None)
        except StopIteration:
            return
        except Exception as error:  # the server's own (a bug), logged; the stream ends
            log.warning("a stream's write failed, closing it: %r", error)
            self.close("write failed")
            return
        # Backlogged: the write waits for the transport to drain, in a task of its own
        # that the feed's watchdog cancels past send_timeout.
        self.sending_since = asyncio.get_running_loop().time()
        self.writing = asyncio.ensure_future(self._finish(step, blocker))

    async def _finish(self, step: Generator[Any, None, None], blocker: Any) -> None:
        try:
            await _resume(step, blocker)
            while self.pending and not self.closed:
                chunk = b"".join(self.pending)
                self.pending = None
                assert self.send is not None
                self.sending_since = asyncio.get_running_loop().time()
                await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
        except asyncio.CancelledError:
            step.close()
            raise
        except Exception as error:  # as in _write
            log.warning("a stream's write failed, closing it: %r", error)
            self.close("write failed")
        finally:
            self.sending_since = 0.0
            self.writing = None


async def _resume(step: Generator[Any, None, None], blocker: Any) -> None:
    """Finish ``step``, an awaitable run by hand that suspended yielding ``blocker``.

    What a task would do: wait for the future it yielded (a bare yield: one loop
    turn), then send it ``None`` to go on, until it returns.
    """
    while True:
        if blocker is None:
            await asyncio.sleep(0)
        else:
            # Taken over, as a task takes a future its coroutine yields; awaiting it
            # again while marked blocking is refused.
            blocker._asyncio_future_blocking = False
            await blocker
        try:
            blocker = step.send(None)
        except StopIteration:
            return
