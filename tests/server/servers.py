"""Real flag servers for tests: in a thread (fast), or a ``rollsafe server`` process (killable)."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from rollsafe.server import BackgroundServer, ServerSettings
from rollsafe.server.tokens import new_token
from rollsafe.store.protocol import Store
from rollsafe.store.records import TokenScope
from rollsafe.store.sqlite import SqliteStore
from rollsafe.support.http import http_get

# Ports that another process binds later: below the ephemeral range, so connections other
# tests make (under xdist, many at once) cannot take them first (tests/ports.py).
from tests.ports import unused_port as free_port

FAST = ServerSettings(heartbeat=0.3, poll_interval=0.02, send_timeout=1.0, token_cache_ttl=0.5)


@dataclass
class Tokens:
    admin: str
    client: str


def make_tokens(db: Path) -> Tokens:
    store = SqliteStore(db)
    try:
        return add_tokens(store)
    finally:
        store.close()


def add_tokens(store: Store) -> Tokens:
    """An admin token ``ops`` and a client token ``shop`` of any store."""
    admin, admin_record = new_token("ops", TokenScope.ADMIN, created_by="test")
    client, client_record = new_token("shop", TokenScope.CLIENT, created_by="test")
    store.add_token(admin_record, actor="test")
    store.add_token(client_record, actor="test")
    return Tokens(admin, client)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class ServerProcess:
    """``rollsafe server`` in a subprocess: ``kill`` is a SIGKILL, ``start`` (re)starts it."""

    home: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    open_files: int | None = None
    """The server's ``RLIMIT_NOFILE`` (soft and hard), as ``ulimit -n`` would set it."""
    log: Path | None = None
    """Where its stdout and stderr go (else nowhere)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        # 60 s, not 20: a cold server (FastAPI, uvicorn, the store) took over 20 s to
        # answer /health under ``-n 4`` on a loaded 2-core machine; a healthy start
        # returns as soon as it answers, so the margin costs nothing.
        with contextlib.ExitStack() as closing:
            output = (
                closing.enter_context(self.log.open("ab"))
                if self.log is not None
                else subprocess.DEVNULL
            )
            self.process = self._popen(output)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rollsafe server exited with {self.process.returncode}")
            try:
                if http_get(f"{self.url}/health", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError("rollsafe server did not start")

    def _popen(self, output: IO[bytes] | int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "rollsafe", "--home", str(self.home), "server",
             "--port", str(self.port), "--heartbeat", "0.3", "--poll-interval", "0.02",
             "--log-level", "warning"],
            stdout=output,
            stderr=output,
            env={**os.environ, "COLUMNS": "200"},
            preexec_fn=self._limit_open_files if self.open_files is not None else None,
        )  # fmt: skip

    def _limit_open_files(self) -> None:
        assert self.open_files is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None


def in_thread(db: Path, settings: ServerSettings = FAST) -> BackgroundServer:
    return BackgroundServer(db, settings).start()


class StreamReader:
    """Reads an SSE stream in a thread, keeping the events and the raw lines it saw."""

    def __init__(self, url: str, token: str, headers: dict[str, str] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.lines: list[str] = []
        self.status: int | None = None
        self.closed = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(5.0, read=10.0))
        self._url = url
        self._headers = {**bearer(token), **(headers or {})}
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        current: dict[str, Any] = {}
        try:
            with self._client.stream("GET", self._url, headers=self._headers) as response:
                self.status = response.status_code
                self._response = response
                for line in response.iter_lines():
                    self.lines.append(line)
                    if not line:
                        if "data" in current:
                            self.events.append(current)
                        current = {}
                    elif not line.startswith(":"):
                        key, _, value = line.partition(": ")
                        current[key] = value
        except httpx.HTTPError:
            pass
        finally:
            self.closed.set()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(self.events) >= count, f"got {len(self.events)} events, wanted {count}"
        return self.events

    def close(self) -> None:
        self._client.close()
        self._thread.join(5)


def eventually(predicate: Any, timeout: float = 5.0, interval: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
