"""The change feed: notices every flag change in the store and fans it out to SSE streams.

The controller and the CLI write flags straight into the store from other
processes, so the feed does not rely on this server's own writes: a thread
reads the store's flags revision every ``poll_interval`` (one indexed read) and,
when it moved, the rows changed since (`Store.flag_changes`, deletions
included). The event loop then updates the per-environment state and offers one
pre-encoded message to each subscriber of that environment. Each subscriber has
a bounded queue; one that falls behind is closed, never buffered without limit.

Event ids are store revisions, so a client reconnecting with ``Last-Event-ID``
gets exactly the flags changed since, or the whole state when the id is unusable.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from rollsafe.errors import RollsafeError
from rollsafe.sdk.protocol import CONNECTED, UPDATED, delta_event, feature_of, hydration
from rollsafe.server.settings import ServerSettings
from rollsafe.store.protocol import Store
from rollsafe.store.records import FlagChange

log = logging.getLogger(__name__)

HEARTBEAT = b": heartbeat\n\n"
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
        return hydration(self.features())

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
        "wake",
    )

    def __init__(self, environment: str, limit: int) -> None:
        self.environment = environment
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


class ChangeFeed:
    """Per-environment flag state and the streams following it; see the module docstring."""

    def __init__(self, store: Store, settings: ServerSettings) -> None:
        self._store = store
        self._settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._seen = 0  # revision read from the store (poll thread)
        self.revision = 0  # revision applied (event loop)
        self._states: dict[str, EnvironmentState] = {}
        self._subscribers: dict[str, set[Subscriber]] = collections.defaultdict(set)
        self._count = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self.dropped = 0
        """Streams closed because their client was too slow."""

    # -- lifecycle (event loop) ---------------------------------------------------------

    def start(self) -> None:
        """Load the state and start following the store; call from the event loop."""
        self._loop = asyncio.get_running_loop()
        revision = self._store.flags_revision()
        changes = self._store.flag_changes(0)
        self._seen = max([revision, *(c.revision for c in changes)])
        self._reset(changes, self._seen)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="flag-feed", daemon=True)
        self._thread.start()
        self._ticker = asyncio.create_task(self._tick())
        self._watchdog = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        self.close_streams("server shutting down")
        self._stop.set()
        self._wake.set()
        tasks = [task for task in (self._ticker, self._watchdog) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)

    def close_streams(self, reason: str) -> None:
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber.close(reason)

    # -- following the store (poll thread, or a request's thread after a write) ----------

    def poll_now(self) -> None:
        """Read the store now (after this process wrote to it); thread-safe."""
        self._poll()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._poll()
            self._wake.wait(self._settings.poll_interval)
            self._wake.clear()

    def _poll(self) -> None:
        with self._lock:
            try:
                revision = self._store.flags_revision()
                if revision == self._seen:
                    return
                reset = revision < self._seen  # the store was replaced (restored from a backup)
                changes = self._store.flag_changes(0 if reset else self._seen)
            except RollsafeError as error:
                log.warning("cannot read flag changes, keeping the last state: %s", error)
                return
            self._seen = max([revision, *(c.revision for c in changes)])
            loop = self._loop
            if loop is None or loop.is_closed():
                return
            seen = self._seen
            try:
                if reset:
                    loop.call_soon_threadsafe(self._reset, changes, seen)
                else:
                    loop.call_soon_threadsafe(self._apply, changes, seen)
            except RuntimeError:  # the loop closed meanwhile (shutdown)
                return

    # -- state and fan-out (event loop) ---------------------------------------------------

    def _reset(self, changes: Iterable[FlagChange], revision: int) -> None:
        self._states = {}
        for change in changes:
            self.state(change.environment).apply(change)
        self.revision = revision
        for environment, subscribers in self._subscribers.items():
            message = encode(CONNECTED, self.state(environment).hydration(), revision)
            for subscriber in subscribers:
                subscriber.offer(message)

    def _apply(self, changes: list[FlagChange], revision: int) -> None:
        by_environment: dict[str, list[FlagChange]] = collections.defaultdict(list)
        for change in changes:
            self.state(change.environment).apply(change)
            by_environment[change.environment].append(change)
        self.revision = max(self.revision, revision)
        for environment, batch in by_environment.items():
            subscribers = self._subscribers.get(environment)
            if not subscribers:
                continue
            message = encode(UPDATED, {"events": [delta_event(c) for c in batch]}, revision)
            for subscriber in list(subscribers):
                subscriber.offer(message)

    def state(self, environment: str) -> EnvironmentState:
        state = self._states.get(environment)
        if state is None:
            state = self._states[environment] = EnvironmentState(environment)
        return state

    # -- streams (event loop) -------------------------------------------------------------

    @property
    def stream_count(self) -> int:
        return self._count

    def subscribe(self, environment: str, last_event_id: str | None) -> tuple[Subscriber, bytes]:
        """A new stream and its first message; raises `StreamLimitError` when full.

        The first message is the whole state (``unleash-connected`` with a hydration
        event), or, when ``last_event_id`` is a revision this feed can resume from,
        only the changes after it.
        """
        if self._count >= self._settings.max_streams:
            raise StreamLimitError(self._settings.max_streams)
        subscriber = Subscriber(environment, self._settings.queue_limit)
        self._subscribers[environment].add(subscriber)
        self._count += 1
        state = self.state(environment)
        resume = _revision(last_event_id)
        if resume is not None and resume <= self.revision:
            return subscriber, encode(CONNECTED, state.changes_after(resume), self.revision)
        return subscriber, state.connected(self.revision)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscribers = self._subscribers.get(subscriber.environment)
        if subscribers is not None and subscriber in subscribers:
            subscribers.remove(subscriber)
            self._count -= 1
            if subscriber.reason.startswith(TOO_SLOW):
                self.dropped += 1
                log.warning("dropped a stream of %s: %s", subscriber.environment, subscriber.reason)
            if not subscribers:
                del self._subscribers[subscriber.environment]

    async def _tick(self) -> None:
        """Heartbeats to every stream; streams past their maximum age are closed."""
        while True:
            await asyncio.sleep(self._settings.heartbeat)
            oldest = time.monotonic() - self._settings.max_stream_age
            for subscribers in list(self._subscribers.values()):
                for subscriber in list(subscribers):
                    if subscriber.opened < oldest:
                        subscriber.close("maximum stream age reached; reconnect")
                    else:
                        subscriber.offer(HEARTBEAT)

    async def _watch(self) -> None:
        """Drop streams whose client has not taken a write for ``send_timeout`` seconds."""
        limit = self._settings.send_timeout
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(0.05, limit / 4))
            now = loop.time()
            for subscribers in list(self._subscribers.values()):
                for subscriber in list(subscribers):
                    since = subscriber.sending_since
                    if since and now - since > limit and not subscriber.stalled:
                        subscriber.stalled = True
                        subscriber.close(f"{TOO_SLOW}: a write blocked for too long")
                        if subscriber.task is not None:
                            subscriber.task.cancel()


class StreamLimitError(RollsafeError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"this server already serves {limit} streams; retry later")


def _revision(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isdigit() else None
