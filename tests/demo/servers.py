"""Real loopback servers for tests: the shop under uvicorn in a thread, on a port of its own."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from rollsafe.demo.shop import create_app


class FakeFlags:
    """A flag reader: every flag ``on`` (a bool) or decided by ``on(context)``; logs contexts."""

    def __init__(self, on: bool | Callable[[dict[str, Any]], bool] = False) -> None:
        self.on = on
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def is_enabled(self, name: str, context: dict[str, Any]) -> bool:
        self.calls.append((name, dict(context)))
        return self.on(context) if callable(self.on) else self.on


def free_socket(port: int = 0) -> socket.socket:
    # proto=IPPROTO_TCP, or asyncio will not set TCP_NODELAY on accepted connections (40 ms ACKs)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


@dataclass
class Server:
    """One uvicorn server in a daemon thread; ``stop`` shuts it down gracefully."""

    app: Any
    port: int = 0
    url: str = ""
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _socket: socket.socket | None = None

    def start(self) -> Server:
        self._socket = free_socket(self.port)
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.app, lifespan="on", log_level="warning", access_log=False,
            timeout_graceful_shutdown=2,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            assert not self._thread.is_alive(), "server thread did not stop"
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None


def write_release(root: Path, version: str, fault: str | None = None) -> Path:
    release_dir = root / "releases" / f"{version}-{fault or 'none'}"
    release_dir.mkdir(parents=True, exist_ok=True)
    (release_dir / "release.json").write_text(json.dumps({"version": version, "fault": fault}))
    return release_dir


@dataclass
class Shops:
    """Starts shop instances under ``root`` over one database; stops them all at teardown."""

    root: Path
    db: Path
    running: list[Server] = field(default_factory=list)

    def start(
        self,
        version: str = "1.0.0",
        fault: str | None = None,
        *,
        flags: FakeFlags | None = None,
        port: int = 0,
        seed: int | None = 1,
        db: Path | None = None,
    ) -> Server:
        app = create_app(
            write_release(self.root, version, fault),
            db or self.db,
            flags or FakeFlags(),
            rng=random.Random(seed),
        )
        server = Server(app, port=port)
        self.running.append(server)
        return server.start()

    def stop_all(self) -> None:
        for server in self.running:
            server.stop()
        self.running.clear()


def client(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=5)


def checkout_body(user: str = "alice", *items: tuple[int, int]) -> dict[str, Any]:
    lines = items or ((1, 2), (3, 1))
    return {"user_id": user, "items": [{"product_id": p, "quantity": q} for p, q in lines]}
