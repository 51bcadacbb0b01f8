"""`Listener`: a PostgreSQL connection of its own, LISTENing for flag changes to wake a reader.

Every flag write of `PostgresStore` NOTIFYs `FLAGS_CHANNEL` on commit. A
listener turns each notification into a call of ``on_wake``; its owner then
reads what changed (``Store.flag_changes`` after the revision it holds) rather
than trusting payloads, so wake-ups may be merged, repeated or spurious.

PostgreSQL delivers a notification only to sessions listening at the moment of
the commit: whatever was committed while the connection was down is never
announced. So the listener also calls ``on_wake`` when it loses its connection
(its owner should poll again until it is back) and once after every (re)connect
(to read what it missed). Reconnects back off exponentially with jitter, so a
restarted server is not stormed by every replica at once. Notifications are a
latency optimisation, never the only path: owners keep a slow poll as the
safety net (see `rollsafe.server.feed`).

Channels belong to the database, not to a schema: stores in other schemas of the
same database wake the listener too, which costs its owner one revision read.
"""

from __future__ import annotations

import contextlib
import logging
import random
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from rollsafe.store.pgsession import connection_info
from rollsafe.store.postgres import FLAGS_CHANNEL
from rollsafe.support.redaction import redacted

log = logging.getLogger(__name__)

LISTEN_SUFFIX = "-listen"
"""Appended to the URL's application_name (default ``rollsafe``) to tell the listener apart."""


class Listener:
    """Calls ``on_wake`` (from its own thread) on each NOTIFY on ``channel``; see the module.

    ``with Listener(url, on_wake):`` or `start` / `stop`. `listening` says whether
    the LISTEN is in place now. ``on_wake`` must be quick and must not raise
    (setting a `threading.Event` is the intended use).
    """

    def __init__(
        self,
        url: str,
        on_wake: Callable[[], None],
        *,
        channel: str = FLAGS_CHANNEL,
        connect_timeout: float = 5.0,
        backoff: float = 0.1,
        max_backoff: float = 5.0,
    ) -> None:
        base = connection_info(url, application_name="rollsafe", connect_timeout=connect_timeout)
        name = str(conninfo_to_dict(base).get("application_name") or "rollsafe")
        # PostgreSQL cuts names at 63 bytes: keep the suffix that tells the listener apart.
        name = f"{name[: 63 - len(LISTEN_SUFFIX)]}{LISTEN_SUFFIX}"
        self._conninfo = make_conninfo(base, application_name=name)
        self.where = redacted(url)
        self._on_wake = on_wake
        self._channel = channel
        self._backoff, self._max_backoff = backoff, max_backoff
        self._listening = threading.Event()
        self._stopping = threading.Event()
        # select() watches this socket next to the connection: stop() writes a byte to end
        # the wait at once, where a polling timeout would delay every shutdown.
        self._interrupt, self._interrupter = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name="store-listen", daemon=True)

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def wait_listening(self, timeout: float) -> bool:
        """Block until the LISTEN is in place; False on timeout."""
        return self._listening.wait(timeout)

    def start(self) -> Listener:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close the connection and end the thread; a connect under way may take its timeout."""
        self._stopping.set()
        with contextlib.suppress(OSError):  # stopped before: the socket is closed
            self._interrupter.send(b"x")
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the listener on %s did not stop within %gs", self.where, timeout)
                return  # the thread still selects on the socket: leave it to the collector
        self._interrupt.close()
        self._interrupter.close()

    def __enter__(self) -> Listener:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        delay = self._backoff
        failing = False
        connected_before = False
        while not self._stopping.is_set():
            try:
                connection = self._connect()
            except psycopg.Error as error:
                if not failing:
                    log.warning("cannot LISTEN on %s, retrying with backoff: %s", self.where, error)
                failing = True
                self._stopping.wait(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self._max_backoff)
                continue
            if failing or connected_before:
                log.info("listening on %s again", self.where)
            failing, connected_before = False, True
            up_since = time.monotonic()
            try:
                self._listening.set()
                self._on_wake()  # read what was committed while nobody listened
                self._follow(connection)
            except (psycopg.Error, OSError) as error:
                if not self._stopping.is_set():
                    log.warning("lost the LISTEN connection to %s: %s", self.where, error)
            finally:
                self._listening.clear()
                connection.close()
            if self._stopping.is_set():
                return
            self._on_wake()  # the owner polls at its fast rate until the LISTEN is back
            # A connection that the server drops right after accepting it must not turn
            # into a reconnect loop: only one that stayed up a while resets the backoff.
            if time.monotonic() - up_since >= self._max_backoff:
                delay = self._backoff
            self._stopping.wait(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self._max_backoff)

    def _connect(self) -> psycopg.Connection[Any]:
        connection = psycopg.connect(self._conninfo, autocommit=True)
        try:
            connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        except BaseException:
            connection.close()
            raise
        return connection

    def _follow(self, connection: psycopg.Connection[Any]) -> None:
        """Wake the owner per batch of notifications until stopped; raises on a lost connection.

        An idle connection needs no pings: its keepalives (see `connection_info`) make a
        dead peer show up as a readable socket whose read fails.
        """
        sockets = [connection.fileno(), self._interrupt.fileno()]
        while True:
            # timeout=0 takes what arrived (and what an earlier statement buffered)
            # without waiting; a lost connection raises here.
            if sum(1 for _ in connection.notifies(timeout=0)):
                self._on_wake()
            readable, _, _ = select.select(sockets, [], [])
            if self._interrupt.fileno() in readable:
                return
