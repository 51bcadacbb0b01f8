"""A scripted SSE server on a raw socket: records each request, answers what it is told."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n"
    b"Cache-Control: no-cache\r\n\r\n"
)

NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
    b"Connection: close\r\n\r\n{}"
)


class ScriptedStream:
    """Stream request ``i`` gets ``scripts[i]`` after the headers, then silence; others 404."""

    def __init__(self, scripts: list[bytes]) -> None:
        self.scripts = scripts
        self.requests: list[tuple[float, str]] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self._connections.append(connection)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                request += chunk
            text = request.decode("latin-1")
            try:
                if not text.startswith("GET /api/client/stream"):
                    connection.sendall(NOT_FOUND)
                    connection.close()
                    continue
                index = len(self.requests)
                self.requests.append((time.monotonic(), text))
                script = self.scripts[index] if index < len(self.scripts) else b""
                connection.sendall(HEAD + script)
            except OSError:
                continue

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept
        self._listener.close()
        for connection in self._connections:
            connection.close()
        self._thread.join(5)
