"""Raw-socket servers on loopback: a scripted SSE server that records each request and
answers what it is told, and a forward proxy."""

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


class LoopbackServer:
    """A listener on a free loopback port; each accepted connection goes to `handle`
    on the accepting thread. `close` stops accepting and closes every socket it saw."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def handle(self, connection: socket.socket) -> None:
        raise NotImplementedError

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(connection)
            with contextlib.suppress(OSError):
                self.handle(connection)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._thread.join(5)


class ScriptedStream(LoopbackServer):
    """Stream request ``i`` gets ``scripts[i]`` after ``head``, then silence; others 404."""

    def __init__(self, scripts: list[bytes], head: bytes = HEAD) -> None:
        self.scripts = scripts
        self.head = head
        self.requests: list[tuple[float, str]] = []
        super().__init__()

    def handle(self, connection: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = connection.recv(65536)
            if not chunk:
                break
            request += chunk
        text = request.decode("latin-1")
        if not text.startswith("GET /api/client/stream"):
            connection.sendall(NOT_FOUND)
            connection.close()
            return
        index = len(self.requests)
        self.requests.append((time.monotonic(), text))
        script = self.scripts[index] if index < len(self.scripts) else b""
        connection.sendall(self.head + script)


class ForwardProxy(LoopbackServer):
    """A plain HTTP forward proxy on loopback (``GET http://host:port/path``): each request
    goes to its origin, the response comes back byte for byte; the request lines are kept."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        super().__init__()

    def handle(self, connection: socket.socket) -> None:
        threading.Thread(target=self._forward, args=(connection,), daemon=True).start()

    def _forward(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            request_line, rest = head.split(b"\r\n", 1)
            method, target, version = request_line.decode("latin-1").split(" ")
            self.requests.append(f"{method} {target}")
            authority, _, path = target.removeprefix("http://").partition("/")
            host, _, port = authority.partition(":")
            origin = socket.create_connection((host, int(port or 80)))
            self._sockets.append(origin)
            origin.sendall(f"{method} /{path} {version}\r\n".encode("latin-1") + rest)
            threading.Thread(target=_pipe, args=(client, origin), daemon=True).start()
            _pipe(origin, client)


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            target.sendall(chunk)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)
