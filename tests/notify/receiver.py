"""A real HTTP receiver on loopback for notification tests: it records every request and
answers from a script (status, headers, delay), so retries and timeouts are exercised."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Receiver:
    url: str
    received: list[Received]
    script: list[Reply]
    """Replies for the next requests, in order; then ``default``."""
    default: Reply = field(default_factory=Reply)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.received)

    def bodies(self) -> list[Any]:
        return [request.json for request in self.received]


def serve() -> Iterator[Receiver]:
    """Start a receiver; the generator's end stops it (use as a fixture body)."""
    received: list[Received] = []
    script: list[Reply] = []
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(Received(self.path, dict(self.headers), body, time.monotonic()))
            reply = script.pop(0) if script else holder["r"].default
            if reply.delay:
                time.sleep(reply.delay)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            del args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False  # a reply held back on purpose must not hold the test
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook", received, script)
    holder["r"] = receiver
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
