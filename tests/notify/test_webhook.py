"""Webhook notifications: matching journal entries arrive; a dead receiver never raises."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rollsafe.config.notify import WebhookNotify
from rollsafe.notify import WebhookNotifier
from rollsafe.store import JournalFollower, SqliteStore


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            del args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_matching_entries_are_posted_in_order(
    tmp_path: Path, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = receiver
    store = SqliteStore(tmp_path / "rollsafe.db")
    notifier = WebhookNotifier(WebhookNotify(url=url, events=["guard.firing", "rollback.started"]))
    with JournalFollower(store, notifier, interval=0.05):
        store.append("guard.firing", {"guard": "error-rate"}, actor="t", rollout_id="r1")
        store.append("analysis.observation", {"t": 1}, actor="t", rollout_id="r1")
        store.append("rollback.started", {"reason": "x"}, actor="t", rollout_id="r1")
        deadline = time.monotonic() + 3
        while len(received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    notifier.close()
    store.close()
    assert [m["entry"]["kind"] for m in received] == ["guard.firing", "rollback.started"]
    assert received[0]["entry"]["data"] == {"guard": "error-rate"}
    assert notifier.sent == 2


def test_an_unreachable_receiver_is_logged_not_raised(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "rollsafe.db")
    notifier = WebhookNotifier(WebhookNotify(url="http://127.0.0.1:9/none", timeout=0.5))
    entry = store.append("rollback.started", {}, actor="t", rollout_id="r1")
    started = time.monotonic()
    notifier(entry)  # returns at once, whatever the receiver does
    assert time.monotonic() - started < 0.1
    notifier.close()
    store.close()
    assert (notifier.sent, notifier.failed) == (0, 1)


def test_a_slow_receiver_drops_the_oldest_instead_of_growing(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "rollsafe.db")
    notifier = WebhookNotifier(
        WebhookNotify(url="http://127.0.0.1:9/none", timeout=0.5), max_pending=3
    )
    entries = [store.append("rollback.started", {"n": n}, actor="t") for n in range(20)]
    for entry in entries:
        notifier(entry)
    assert notifier.dropped >= 16
    notifier.close(timeout=3)
    store.close()
