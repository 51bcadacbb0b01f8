"""What the change feed fans out to: each environment's flags as streamed, and each open
stream's bounded queue of encoded events."""

from __future__ import annotations

import asyncio
import collections
import json
import time
from typing import Any

from rollsafe.sdk.protocol import CONNECTED, delta_event, feature_of, hydration
from rollsafe.store.records import FlagChange, TokenRecord

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
    """One open stream: a bounded queue of encoded messages and a wake-up event."""

    __slots__ = (
        "closed",
        "environment",
        "limit",
        "opened",
        "pending",
        "reason",
        "sending_since",
        "stalled",
        "task",
        "token",
        "wake",
    )

    def __init__(self, environment: str, limit: int, token: TokenRecord | None = None) -> None:
        self.environment = environment
        self.token = token
        """The token the stream was opened with; revoking it closes the stream."""
        self.limit = limit
        self.pending: collections.deque[bytes] = collections.deque()
        self.wake = asyncio.Event()
        self.closed = False
        self.reason = ""
        self.opened = time.monotonic()
        self.sending_since = 0.0
        """Loop time a write to the client started, 0.0 when none is under way."""
        self.stalled = False
        self.task: asyncio.Task[Any] | None = None

    def offer(self, message: bytes) -> None:
        if self.closed:
            return
        if len(self.pending) >= self.limit:
            self.close(f"{TOO_SLOW}: its queue is full")
            return
        self.pending.append(message)
        self.wake.set()

    def close(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.reason = reason
            self.pending.clear()
            self.wake.set()
