"""``python -m bench.notify``: what notifications cost a rollout, against loopback receivers.

Two figures per receiver (healthy, hung, refusing connections):

- hand-over: the time ``Notifications.__call__`` takes per journal entry (what
  the journal follower's thread spends; the controller's own thread spends none);
- end of run: how long ``close()`` holds the end of a run after a burst of
  five failure entries, with a channel ``timeout`` of 300 ms.

Seven rounds each, alternated; the median counts. The claim under test: a dead
or hung receiver delays the end of a run by at most the timeout.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from rollsafe.config.notify import SlackNotify
from rollsafe.journal import JournalEntry, Kind
from rollsafe.notify import build_notifications

ROUNDS = 7
BURST = 5
TIMEOUT = 0.3


@contextmanager
def receiver(delay: float) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            del args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads, server.block_on_close = True, False
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def refused_url() -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()  # nothing listens there now
    return f"http://127.0.0.1:{port}/hook"


def entry(seq: int) -> JournalEntry:
    data = {
        "guard": "error-rate",
        "severity": "critical",
        "metric": "error_rate",
        "value": 0.25,
        "threshold": 0.05,
        "window": 10.0,
    }
    return JournalEntry(
        seq=seq,
        ts=time.time(),
        kind=Kind.GUARD_TRIPPED,
        actor="bench",
        rollout_id="bench",
        data=data,
        prev_hash="",
        hash=f"h{seq}",
    )


def one_round(url: str) -> tuple[float, float]:
    config = SlackNotify(type="slack", url=url, timeout=TIMEOUT, retries=3)
    failures: list[object] = []
    notifications = build_notifications([config], "shop", failures.append)
    started = time.perf_counter()
    for seq in range(BURST):
        notifications(entry(seq))
    handed = (time.perf_counter() - started) / BURST
    started = time.perf_counter()
    notifications.close()
    return handed, time.perf_counter() - started


def main() -> None:
    print(f"burst of {BURST} entries, timeout {TIMEOUT * 1000:.0f} ms, {ROUNDS} rounds, medians")
    print(f"{'receiver':<22} {'hand-over/entry':>16} {'end of run':>12}")
    with receiver(0.0) as healthy, receiver(5.0) as hung:
        urls = {
            "healthy (200 at once)": healthy,
            "hung (answers in 5 s)": hung,
            "refusing connections": refused_url(),
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in urls}
        for _ in range(ROUNDS):
            for name, url in urls.items():
                results[name].append(one_round(url))
    for name, rounds in results.items():
        handed = statistics.median(r[0] for r in rounds)
        closed = statistics.median(r[1] for r in rounds)
        print(f"{name:<22} {handed * 1e6:>13.0f} µs {closed * 1000:>9.0f} ms")


if __name__ == "__main__":
    main()
