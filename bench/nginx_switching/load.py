"""``python -m bench.nginx_switching.load URL USERS SLOW UPLOAD``: users until stdin closes.

Each of ``USERS`` users is a thread with its own connections, alternating ``GET /``
and ``POST /orders`` back to back. Each of ``SLOW`` more users sends only ``POST
/orders`` with its body in four pieces over ``UPLOAD`` seconds, as a phone on a
weak network does: nginx reads a body whole before it picks an instance, so such
a request is accepted under one split and sent under it once its body is in,
whatever happened meanwhile. When stdin closes (the parent is done or died),
prints a JSON summary: requests per method, every answer that was not 2xx and
every failed connection, each with its method and when it happened (monotonic
seconds, the same clock as the parent's). Its own process, so the parent's
switching and the users share no GIL.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx


def _slow_body(seconds: float) -> Iterator[bytes]:
    for _ in range(4):
        yield b"y" * 512
        time.sleep(seconds / 4)


def run(url: str, users: int, slow: int, upload: float, stop: threading.Event) -> dict[str, Any]:
    sent: Counter[str] = Counter()
    bad: list[dict[str, Any]] = []
    lock = threading.Lock()

    def user(uploads_slowly: bool) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            count = 0
            while not stop.is_set():
                method = "POST" if count % 2 or uploads_slowly else "GET"
                count += 1
                try:
                    if uploads_slowly:
                        response = client.post("/orders", content=_slow_body(upload))
                    elif method == "POST":
                        response = client.post("/orders", content=b"x" * 2048)
                    else:
                        response = client.get("/")
                    failure = None if response.is_success else f"HTTP {response.status_code}"
                except httpx.HTTPError as error:
                    failure = f"{type(error).__name__}: {error}"
                with lock:
                    method = "slow POST" if uploads_slowly else method
                    sent[method] += 1
                    if failure is not None:
                        bad.append({"method": method, "at": time.monotonic(), "failure": failure})

    kinds = [False] * users + [True] * slow
    threads = [threading.Thread(target=user, args=(kind,), daemon=True) for kind in kinds]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join(timeout=35)
    return {"sent": dict(sent), "bad": bad}


def main() -> None:
    url, users, slow, upload = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    stop = threading.Event()

    def watch_stdin() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(json.dumps(run(url, users, slow, upload, stop)), flush=True)


if __name__ == "__main__":
    main()
