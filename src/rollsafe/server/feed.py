"""The change feed: notices every flag change in the store and fans it out to SSE streams.

The controller, the CLI and other replicas write flags straight into the store
from other processes, so the feed does not rely on this server's own writes: a
thread reads the store's flags revision (one indexed read) and, when it moved,
the rows changed since (`Store.flag_changes`, deletions included). The event
loop then updates the per-environment state and offers one pre-encoded message
to each subscriber of that environment, encoded once and written straight to
each stream's connection (no task wake-up per stream). A stream whose client is
backlogged holds a bounded list of messages until its write completes; one that
falls further behind is closed, never buffered without limit.

When the thread reads: at once after a write through this server (`poll_now`);
with a PostgreSQL store, at once on each NOTIFY of a commit (`rollsafe.store.listen`),
so replicas see each other's writes within milliseconds, with a slow poll every
``notified_poll_interval`` as the safety net; with SQLite, which cannot notify,
and while the LISTEN connection is down, every ``poll_interval``.

The same thread checks the tokens of open streams every ``token_cache_ttl``: a
stream whose token was revoked (through any replica or the CLI) is closed.

Event ids are store revisions, so a client reconnecting with ``Last-Event-ID``
gets exactly the flags changed since, or the whole state when the id is unusable.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from rollsafe.errors import RollsafeError
from rollsafe.errors import StreamLimitError as StreamLimitError
from rollsafe.sdk.protocol import CONNECTED, UPDATED, delta_event
from rollsafe.server.fanout import TOO_SLOW, EnvironmentState, Subscriber, encode
from rollsafe.server.settings import ServerSettings
from rollsafe.store.protocol import Store
from rollsafe.store.records import FlagChange, TokenRecord
from rollsafe.support.redaction import is_postgres_url

if TYPE_CHECKING:
    from rollsafe.store.listen import Listener

log = logging.getLogger(__name__)

HEARTBEAT = b": heartbeat\n\n"


class ChangeFeed:
    """Per-environment flag state and the streams following it; see the module docstring."""

    def __init__(
        self,
        store: Store,
        settings: ServerSettings,
        *,
        on_revoked: Callable[[frozenset[str]], None] | None = None,
    ) -> None:
        """``on_revoked`` gets the ids of all revoked tokens after each check (event loop)."""
        self._store = store
        self._settings = settings
        self._on_revoked = on_revoked
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._seen = 0  # revision read from the store (poll thread)
        self.revision = 0  # revision applied (event loop)
        self._states: dict[str, EnvironmentState] = {}
        self._subscribers: dict[str, set[Subscriber]] = collections.defaultdict(set)
        self._count = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._recheck = threading.Event()  # check the streams' tokens at the next wake-up
        self._listener: Listener | None = None
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
        # Started after the first read: what commits before its LISTEN is in place is
        # read on its first wake-up, which comes once it is listening.
        self._listener = self._listen()
        if self._listener is not None:
            self._listener.start()
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
        if self._listener is not None:
            await asyncio.to_thread(self._listener.stop)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)

    def close_streams(self, reason: str) -> None:
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber.close(reason)

    @property
    def notifications(self) -> str:
        """``listening`` (PostgreSQL NOTIFY wakes the feed), ``reconnecting``, or ``off``."""
        if self._listener is None:
            return "off"
        return "listening" if self._listener.listening else "reconnecting"

    def check_tokens_now(self) -> None:
        """Check the open streams' tokens soon (after a token was revoked here); thread-safe."""
        self._recheck.set()
        self._wake.set()

    # -- following the store (feed thread, or a request's thread after a write) -----------

    def poll_now(self) -> None:
        """Read the store now (after this process wrote to it); thread-safe."""
        self._poll()

    def _listen(self) -> Listener | None:
        address = self._store.address
        if not is_postgres_url(address):
            return None  # SQLite cannot notify: polling is all there is
        # Imported here: psycopg loads only when PostgreSQL is used (as in rollsafe.store).
        from rollsafe.store.listen import Listener

        return Listener(address, self._wake.set)

    def _poll_interval(self) -> float:
        interval = self._settings.poll_interval
        if self._listener is not None and self._listener.listening:
            return max(interval, self._settings.notified_poll_interval)
        return interval

    def _run(self) -> None:
        next_poll = next_check = 0.0
        woken = True
        while not self._stop.is_set():
            # Cleared before reading: a wake-up from here on may be for a commit that this
            # read misses, and it makes the next wait return at once.
            self._wake.clear()
            now = time.monotonic()
            if woken or now >= next_poll:
                self._poll()
                next_poll = now + self._poll_interval()
            if self._recheck.is_set() or now >= next_check:
                self._recheck.clear()
                self._check_tokens()
                next_check = now + self._settings.token_cache_ttl
            woken = self._wake.wait(max(0.0, min(next_poll, next_check) - time.monotonic()))

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
            self._call_soon(self._reset if reset else self._apply, changes, self._seen)

    def _check_tokens(self) -> None:
        # A stale count (it changes on the event loop) only shifts one check by an interval.
        if not self._count:
            return
        with self._lock:  # the store's connection is shared with poll_now
            try:
                tokens = self._store.list_tokens()
            except RollsafeError as error:
                # A store outage must not cut every client off: keep the streams.
                log.warning("cannot check the tokens of open streams: %s", error)
                return
        # The revoked ones, not the live ones: a token created after this read is
        # missing from both, and its new streams must stay open.
        revoked = frozenset(t.id for t in tokens if t.revoked_at is not None)
        if revoked:
            self._call_soon(self._close_revoked, revoked)

    def _call_soon(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(callback, *args)
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

    def _close_revoked(self, revoked: frozenset[str]) -> None:
        for subscribers in self._subscribers.values():
            for subscriber in list(subscribers):
                token = subscriber.token
                if token is not None and token.id in revoked:
                    subscriber.close(f"API token {token.name!r} was revoked")
        if self._on_revoked is not None:
            self._on_revoked(revoked)

    def state(self, environment: str) -> EnvironmentState:
        state = self._states.get(environment)
        if state is None:
            state = self._states[environment] = EnvironmentState(environment)
        return state

    # -- streams (event loop) -------------------------------------------------------------

    @property
    def stream_count(self) -> int:
        return self._count

    def subscribe(
        self, environment: str, last_event_id: str | None, token: TokenRecord | None = None
    ) -> tuple[Subscriber, bytes]:
        """A new stream and its first message; raises `StreamLimitError` when full.

        The first message is the whole state (``unleash-connected`` with a hydration
        event), or, when ``last_event_id`` is a revision this feed can resume from,
        only the changes after it; any other id (garbage, a revision from the future)
        counts as absent. The stream is closed when ``token`` is revoked.

        Call it only where `unsubscribe` is sure to follow (the stream's own
        ``try``/``finally``): the stream holds one of ``max_streams`` slots until then.
        """
        self.check_capacity()
        state = self.state(environment)
        resume = _revision(last_event_id)
        if resume is not None and resume <= self.revision:
            first = encode(CONNECTED, state.changes_after(resume), self.revision)
        else:
            first = state.connected(self.revision)
        # Registered last: nothing after this line can fail and leave the slot taken.
        subscriber = Subscriber(environment, self._settings.queue_limit, token)
        self._subscribers[environment].add(subscriber)
        self._count += 1
        return subscriber, first

    def check_capacity(self) -> None:
        """Raise `StreamLimitError` if another stream would exceed ``max_streams``."""
        if self._count >= self._settings.max_streams:
            raise StreamLimitError(self._settings.max_streams)

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
                        # Blocked: the task finishing a fan-out write, or else the request's
                        # own, still writing the stream's first message.
                        blocked = subscriber.writing
                        if blocked is None and not subscriber.parked:
                            blocked = subscriber.task
                        subscriber.close(f"{TOO_SLOW}: a write blocked for too long")
                        if blocked is not None:
                            blocked.cancel()


_MAX_REVISION_DIGITS = 18
"""Revisions are SQLite/PostgreSQL integers (< 2**63): longer ids cannot be one of ours."""


def _revision(text: str | None) -> int | None:
    """The revision a ``Last-Event-ID`` names, or None for anything this server never sent.

    ASCII digits only: headers arrive decoded as Latin-1, and ``str.isdigit`` accepts
    characters such as ``"\\xb2"`` (a superscript two) that `int` then refuses.
    """
    if text is None:
        return None
    text = text.strip()
    if not (0 < len(text) <= _MAX_REVISION_DIGITS and text.isascii() and text.isdigit()):
        return None
    return int(text)
