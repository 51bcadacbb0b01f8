"""Running the flag service under uvicorn: in the foreground (`serve`) or in a thread."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import uvicorn

from rollsafe.errors import RollsafeError
from rollsafe.server.app import StoreSource, close_streams, create_app
from rollsafe.server.descriptors import listening_socket
from rollsafe.server.settings import ServerSettings

log = logging.getLogger(__name__)


class _Uvicorn(uvicorn.Server):
    """Ends SSE streams first on shutdown: they would otherwise hold it up until the timeout."""

    def __init__(self, config: uvicorn.Config, app: Any) -> None:
        super().__init__(config)
        self._app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        close_streams(self._app)
        await super().shutdown(sockets)


def _config(app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        access_log=False,
        log_level=log_level,
        timeout_graceful_shutdown=3,
        backlog=4096,
    )


def serve(
    store: StoreSource,
    *,
    host: str = "127.0.0.1",
    port: int = 4242,
    settings: ServerSettings | None = None,
    log_level: str = "info",
) -> bool:
    """Serve ``store`` (a URL, a SQLite path or a factory) until SIGINT/SIGTERM.

    False if the server could not start (port taken).
    """
    try:
        sock = listening_socket(host, port)
    except OSError as error:
        log.error("cannot listen on %s:%s: %s", host, port, error.strerror or error)
        return False
    with sock:
        app = create_app(store, settings)
        server = _Uvicorn(_config(app, host=host, port=port, log_level=log_level), app)
        server.run(sockets=[sock])
    return server.started


class BackgroundServer:
    """The flag service on a loopback port, in a daemon thread; for tests and embedding.

    ``with BackgroundServer(store) as server:`` starts it (``server.url``) and
    stops it, streams included, on exit.
    """

    def __init__(
        self,
        store: StoreSource,
        settings: ServerSettings | None = None,
        *,
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self.store = store
        self.settings = settings
        self.port = port
        self.url = ""
        self._log_level = log_level
        self._server: _Uvicorn | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        sock = listening_socket("127.0.0.1", self.port)
        self._socket = sock
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        app = create_app(self.store, self.settings)
        self._server = _Uvicorn(_config(app, log_level=self._log_level), app)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="flag-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RollsafeError(f"the flag server on port {self.port} did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
            if self._thread.is_alive():
                log.error("the flag server on port %s did not stop", self.port)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
