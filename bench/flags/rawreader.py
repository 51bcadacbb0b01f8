"""``python -m bench.flags.rawreader PORT TOKEN N [PATH]``: N bare SSE connections, one selector.

PATH is the stream's path, ``/api/client/stream`` unless given (Unleash's
``/api/client/streaming`` sends the same events).

The lightest possible client, so what is measured is the server: prints
``ready`` once every stream got its first event, then keeps the arrival time of
every ``unleash-updated`` chunk; on ``stop`` (stdin) prints, per stream, the
first arrival of each flag name as JSON.
"""

from __future__ import annotations

import json
import re
import selectors
import socket
import sys
import threading
import time

NAME = re.compile(rb'"name":"([^"]+)"')


def main(port: int, token: str, count: int, path: str = "/api/client/stream") -> None:
    selector = selectors.DefaultSelector()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    for index in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(request)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, index)
    connected = [False] * count
    seen: list[dict[str, float]] = [{} for _ in range(count)]
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    announced = False
    while not stop.is_set():
        for key, _ in selector.select(0.05):
            now = time.time()
            data = key.fileobj.recv(1 << 20)  # type: ignore[union-attr]
            index = key.data
            if not connected[index]:
                connected[index] = b"unleash-connected" in data
                continue
            if b"unleash-updated" in data:
                for name in NAME.findall(data):
                    seen[index].setdefault(name.decode(), now)
        if not announced and all(connected):
            print("ready", flush=True)
            announced = True
    print(json.dumps({"received": seen, "cpu": 0.0, "errors": 0}), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), *sys.argv[4:5])
