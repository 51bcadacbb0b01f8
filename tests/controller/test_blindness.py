"""Blindness is loud: a plan whose metrics endpoint answers 404 pauses or rolls back per
``on_blind``, journals ``metrics.blind``, prints it live, notifies a real webhook receiver
and puts it in the incident report.

The real sample shop runs; the plan scrapes a path it does not serve.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rollsafe.store import RolloutState, SqliteStore
from tests.controller.conftest import Shop, with_steps

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback webhook receiver; yields its URL and the messages it got."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            del args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def blind_plan(shop: Shop, hook: str, steps: str, *, on_blind: str, guards: bool) -> None:
    text = with_steps(shop.plan_path.read_text(), steps)
    text = text.replace("  path: /metrics\n", "  path: /no-such-metrics\n")
    text = text.replace(
        "  on_inconclusive: rollback\n",
        f"  on_inconclusive: rollback\n  blind_after: 2s\n  on_blind: {on_blind}\n",
    )
    if not guards:
        text = re.sub(r"(?ms)^guards:\n.*?^(?=rollback:)", "guards: []\n", text)
    text = text.replace("steps:\n", f"notify:\n  - url: {hook}\nsteps:\n")
    shop.plan_path.write_text(text)


def blind_entries(shop: Shop, rollout_id: str) -> list[dict[str, Any]]:
    store = SqliteStore(shop.home / "rollsafe.db")
    try:
        return [dict(e.data) for e in store.journal(rollout_id) if e.kind == "metrics.blind"]
    finally:
        store.close()


def rollout_of(shop: Shop) -> tuple[str, RolloutState, str]:
    store = SqliteStore(shop.home / "rollsafe.db")
    try:
        rollout = store.list_rollouts(limit=1)[0]
        return rollout.id, rollout.state, rollout.reason
    finally:
        store.close()


def wait_for_notification(received: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for message in received:
            if message["entry"]["kind"] == kind:
                return message
        time.sleep(0.05)
    raise AssertionError(f"no {kind} notification in {[m['entry']['kind'] for m in received]}")


def test_blind_guards_pause_the_rollout_loudly(
    shop: Shop, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    hook, received = receiver
    steps = "steps:\n  - flag: {name: fast-checkout, rollout: 10}\n  - pause: {duration: 60s}\n"
    blind_plan(shop, hook, steps + "  - promote:\n", on_blind="pause", guards=True)
    started = time.monotonic()
    result = shop.rollsafe("rollout", "start", str(shop.plan_path))
    elapsed = time.monotonic() - started
    rollout_id, state, reason = rollout_of(shop)

    assert state is RolloutState.PAUSED, result.stdout + result.stderr
    assert elapsed < 40, "the 60 s pause step should have been cut short by the blind guards"
    assert reason.startswith("guards blind: no metrics for"), reason
    assert "HTTP 404 from /no-such-metrics" in reason
    # Live: the failed look and the blindness are printed as they happen.
    assert "guards have no metrics" in result.stdout, result.stdout
    assert re.search(r"guards blind for [\d.]+s.*on_blind: pause", result.stdout, re.S), (
        result.stdout
    )

    (entry,) = blind_entries(shop, rollout_id)
    assert (entry["watcher"], entry["action"]) == ("guards", "pause")
    assert entry["blind_for"] >= 2
    assert "HTTP 404" in entry["error"]
    message = wait_for_notification(received, "metrics.blind")
    assert message["entry"]["data"] == entry
    assert (message["event"], message["rollout_id"]) == ("metrics.blind", rollout_id)
    assert "HTTP 404" in message["text"]


def test_a_blind_analysis_rolls_back_when_its_step_says_so(
    shop: Shop, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    """No guards here: the analysis alone is blind, and its own on_blind overrides the plan's."""
    hook, received = receiver
    steps = (
        "steps:\n  - flag: {name: fast-checkout, rollout: 10}\n"
        "  - analysis: {duration: 60s, on_blind: rollback}\n  - promote:\n"
    )
    blind_plan(shop, hook, steps, on_blind="pause", guards=False)
    result = shop.rollsafe("rollout", "start", str(shop.plan_path))
    rollout_id, state, reason = rollout_of(shop)

    assert state is RolloutState.ROLLED_BACK, result.stdout + result.stderr
    assert "analysis blind: no metrics for" in reason
    assert "analysis blind for" in result.stdout, result.stdout
    (entry,) = blind_entries(shop, rollout_id)
    assert (entry["watcher"], entry["action"]) == ("analysis", "rollback")
    wait_for_notification(received, "metrics.blind")
    store = SqliteStore(shop.home / "rollsafe.db")
    try:
        assert store.get_flag("fast-checkout").definition["enabled"] is False
    finally:
        store.close()

    report = (shop.home / "reports" / rollout_id / "incident.md").read_text()
    assert "## Blindness" in report
    assert "analysis look(s) failed" in report
    assert "analysis blind for" in report
    assert "on_blind: rollback" in report
    assert "Analysis `on_blind` (major) triggered the rollback" in report
