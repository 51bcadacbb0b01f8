"""`FlagClient`: the synchronous SDK, with its updates in one background thread."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from typing import TYPE_CHECKING, Any

from rollsafe.sdk.backoff import Backoff
from rollsafe.sdk.base import (
    ClientBase,
    StreamUnsupportedError,
    check_status,
)
from rollsafe.sdk.protocol import FEATURES_PATH, STREAM_PATH
from rollsafe.sdk.sse import SSEParser

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("rollsafe.sdk")


class FlagClient(ClientBase):
    """Feature flags evaluated locally, kept current from the flag service or the store.

    Sources: ``url`` (and ``token``) of a rollsafe flag service: a Server-Sent
    Events stream, resumed from the last event id after a reconnect (backoff
    from ``backoff_initial`` to ``backoff_max`` seconds with jitter; a stream
    silent for ``heartbeat_timeout`` seconds counts as dead), or polling every
    ``poll_interval`` seconds with ``streaming=False`` or when the service has no
    stream. ``store``: a rollsafe state store (``rollsafe.db``) read every
    ``store_interval`` seconds, for services next to it and no server; with a
    ``url`` too, it is read at start and while the service is unreachable.
    ``bootstrap``: an Unleash features document (dict or JSON file) to use until
    (or instead of) either; an invalid one raises `rollsafe.errors.FlagError` here.

    `is_enabled` and `get_variant` never raise and never wait: while the service
    is down they answer from the last known flags, and the caller's default for
    others, with a warning in the log. After ``os.fork`` the child's first use
    restarts the background thread. ``with FlagClient(...) as flags:`` starts and stops it.
    """

    def __init__(self, url: str | None = None, token: str | None = None, **options: Any) -> None:
        super().__init__(url, token, **options)
        self._life_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._http: httpx.Client | None = None
        self._socket: socket.socket | None = None
        self._running = False

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FlagClient:
        """Start following the source in a daemon thread (the store is read once first)."""
        with self._life_lock:
            if self._running:
                return self
            self._running = True
            self._stop = threading.Event()
            self._read_store()
            self._thread = threading.Thread(target=self._run, name="rollsafe-flags", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background thread and close connections; evaluation keeps working."""
        with self._life_lock:
            self._running = False
            self._stop.set()
            self._interrupt()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._store_source is not None:
            self._store_source.close()
        self.status = "stopped"

    close = stop

    def wait_until_ready(self, timeout: float) -> bool:
        """Block until flags came from the service or store; False on timeout."""
        return self._ready.wait(timeout)

    def __enter__(self) -> FlagClient:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _after_fork_in_child(self) -> None:
        super()._after_fork_in_child()
        self._life_lock = threading.Lock()
        # The parent's connection and socket are not ours: forget them, never close them.
        self._http = None
        self._socket = None
        self._thread = None
        self._stop = threading.Event()

    def _after_fork_use(self) -> None:
        with self._life_lock:  # several threads of the child may get here at once
            if not self._forked:
                return
            self._forked = False
            restart, self._running = self._running, False
        if restart:
            log.info("restarting the flag client in the forked process %d", os.getpid())
            self.start()

    # -- background thread --------------------------------------------------------------

    def _run(self) -> None:
        stop = self._stop
        try:
            if self.url is None:
                self._follow_store(stop)
            else:
                self._follow_service(stop)
        except Exception:  # a bug must not kill the thread silently
            log.exception("the flag client's thread failed; flags are no longer updated")

    def _follow_store(self, stop: threading.Event) -> None:
        if self._store_source is None:
            return
        self.status = "store"
        while not stop.wait(self.store_interval):
            self._read_store()

    def _follow_service(self, stop: threading.Event) -> None:
        backoff = Backoff(self.backoff_initial, self.backoff_max)
        polling = not self.streaming
        while not stop.is_set():
            if polling:
                self.status = "polling"
                try:
                    self._poll_once()
                    self._recovered(f"flag service {self.url}")
                except Exception as error:
                    self._failed(error, self.poll_interval)
                    self._read_store()
                stop.wait(self.poll_interval)
                continue
            connected = [False]
            problem: BaseException | None = None
            try:
                self._stream_once(stop, connected)
            except StreamUnsupportedError:
                log.info("%s has no stream; polling every %s s", self.url, self.poll_interval)
                polling = True
                continue
            except Exception as failure:  # every failure means: reconnect later
                problem = failure
            if stop.is_set():
                break
            delay = self._reconnect_delay(backoff, connected[0], problem)
            if problem is not None:
                self._fallback()
            stop.wait(delay)

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = self._http_client()
        return self._http

    def _stream_once(self, stop: threading.Event, connected: list[bool]) -> None:
        headers, params = self._stream_request()
        with self._client().stream(
            "GET", STREAM_PATH, headers=headers, params=params, timeout=self._stream_timeout()
        ) as response:
            if response.status_code != 200:
                response.read()
            check_status(response)
            network = response.extensions.get("network_stream")
            self._socket = network.get_extra_info("socket") if network is not None else None
            if stop.is_set():
                return
            parser = SSEParser(self.max_event_bytes)
            try:
                for chunk in response.iter_raw():
                    for event in parser.feed(chunk):
                        if self._on_event(event):
                            connected[0] = True
                    if stop.is_set():
                        return
            finally:
                self._socket = None

    def _poll_once(self) -> None:
        headers, params = self._poll_request()
        self._polled(self._client().get(FEATURES_PATH, headers=headers, params=params))

    def _fallback(self) -> None:
        """While the stream is down: one plain fetch (proxies may block streams), else the store."""
        try:
            self._poll_once()
        except Exception:
            self._read_store()

    def _interrupt(self) -> None:
        """Wake a read blocked on the stream (closing alone would not, on Linux)."""
        sock = self._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
