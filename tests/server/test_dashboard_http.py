"""The dashboard over real HTTP: a real server on loopback, its real SQLite store, and
rollouts driven beside it by the real controller on rollsafe.testing's fakes.

Covers: read vs admin tokens, sign-in cookies, CSRF refusals that change nothing,
the rollouts table's filters and pages, a rollout page with charts for both arms
and the judge's evidence, an SSE update arriving, and an approval gate opened from
the page, from the API and from the CLI, each journaled with its actor.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from rollsafe.cli import app as cli
from rollsafe.controller import approvals
from rollsafe.flags import rollout_feature
from rollsafe.journal.kinds import Kind
from rollsafe.server import BackgroundServer
from rollsafe.store import RolloutState
from rollsafe.store.sqlite import SqliteStore
from rollsafe.testing import ReplaySource
from rollsafe.typing import Observation
from tests.controller.rig import Rig
from tests.server.servers import Tokens, bearer

GATE = 'approve: {message: "ship to everyone?"}'


@pytest.fixture
def rig(db: Path, tokens: Tokens) -> Iterator[Rig]:
    """Rollouts on fakes in the server's own store (``db``)."""
    del tokens
    rig = Rig(db.parent)
    try:
        yield rig
    finally:
        rig.close()


@contextlib.contextmanager
def signed_in(server: BackgroundServer, token: str) -> Iterator[httpx.Client]:
    """A browser-like client signed in through the login form (session and CSRF cookies)."""
    with httpx.Client(base_url=server.url, timeout=5, follow_redirects=False) as client:
        answer = client.post("/ui/login", data={"token": token, "next": "/ui/rollouts"})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/rollouts"
        yield client


def csrf(client: httpx.Client) -> str:
    return str(client.cookies.get("rollsafe_csrf", path="/ui"))


def drive(rig: Rig, rollout_id: str) -> threading.Thread:
    controller = rig.controller()
    thread = threading.Thread(target=controller.run, args=(rollout_id,), daemon=True)
    thread.start()
    return thread


def wait_for(check: object, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_pages_are_refused_without_a_live_token(server: BackgroundServer, tokens: Tokens) -> None:
    with httpx.Client(base_url=server.url, timeout=5) as anonymous:
        for path in ("/ui/rollouts", "/ui/flags", "/ui/journal", "/ui/rollouts/ro-x"):
            answer = anonymous.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/ui/login?next=")
        assert anonymous.get("/ui/rollouts/ro-x/events").status_code == 401
        assert anonymous.post("/ui/rollouts/ro-x/abort").status_code == 401
    with httpx.Client(
        base_url=server.url, timeout=5, cookies={"rollsafe_session": "rs_abc.def"}
    ) as forged:
        assert forged.get("/ui/rollouts").status_code == 303
    with httpx.Client(base_url=server.url, timeout=5) as anonymous:
        bad_login = anonymous.post("/ui/login", data={"token": "rs_abc.def"})
        assert "invalid" in bad_login.headers["location"]
        assert "rollsafe_session" not in bad_login.cookies
        # A read (client) token views; by header as well as by cookie.
        page = anonymous.get("/ui/rollouts", headers=bearer(tokens.client))
        assert page.status_code == 200
        assert "<h1>Rollouts</h1>" in page.text
    with signed_in(server, tokens.client) as reader:
        assert reader.get("/ui/rollouts").status_code == 200
        cookie = next(c for c in reader.cookies.jar if c.name == "rollsafe_session")
        assert cookie.has_nonstandard_attr("HttpOnly")


def test_actions_need_an_admin_token_and_the_csrf_token(
    server: BackgroundServer, tokens: Tokens, rig: Rig
) -> None:
    _, rollout_id = rig.create(["deploy", GATE, "promote"])
    store = rig.stores[-1]
    before = len(store.journal(rollout_id))
    with signed_in(server, tokens.admin) as admin, signed_in(server, tokens.client) as reader:
        url = f"/ui/rollouts/{rollout_id}/pause"
        assert admin.post(url).status_code == 403  # no CSRF token
        assert admin.post(url, data={"csrf": "guessed"}).status_code == 403
        assert admin.post(url, data={"csrf": csrf(reader)}).status_code == 403  # another session's
        assert reader.post(url, data={"csrf": csrf(reader)}).status_code == 403  # read token
        assert len(store.journal(rollout_id)) == before  # nothing was changed or journaled

        done = admin.post(url, data={"csrf": csrf(admin)})
        assert done.status_code == 303
        assert "pause+requested" in done.headers["location"]
    requested = [e for e in store.journal(rollout_id) if e.kind == Kind.ROLLOUT_PAUSE_REQUESTED]
    assert [e.actor for e in requested] == ["token ops"]
    assert store.get_rollout(rollout_id).requested == "pause"


def test_an_approval_from_the_page_arrives_live_and_lets_the_rollout_continue(
    server: BackgroundServer, tokens: Tokens, rig: Rig
) -> None:
    _, rollout_id = rig.create(["deploy", GATE, "promote"])
    store = rig.stores[-1]
    with signed_in(server, tokens.admin) as admin:
        page = admin.get(f"/ui/rollouts/{rollout_id}")
        assert page.status_code == 200
        assert 'data-live="/ui/rollouts/' in page.text
        assert "Waiting for approval" not in page.text
        updates: list[str] = []
        with admin.stream("GET", f"/ui/rollouts/{rollout_id}/events", timeout=10) as events:
            assert events.headers["content-type"].startswith("text/event-stream")
            thread = drive(rig, rollout_id)
            event: list[str] = []
            for line in events.iter_lines():
                if line:
                    event.append(line)
                    continue
                text = "\n".join(event)
                event = []
                if text.startswith("event: update"):
                    updates.append(text)
                    if "Waiting for approval" in text:
                        break
        assert "ship to everyone?" in updates[-1]
        assert 'data-action="approve"' in updates[-1]

        approved = admin.post(f"/ui/rollouts/{rollout_id}/approve", data={"csrf": csrf(admin)})
        assert approved.status_code == 303
        assert "approved+step+1" in approved.headers["location"]
        thread.join(10)
    assert store.get_rollout(rollout_id).state is RolloutState.PROMOTED
    granted = [e for e in store.journal(rollout_id) if e.kind == Kind.APPROVAL_GRANTED]
    assert [e.actor for e in granted] == ["token ops"]


def test_approve_through_the_api_and_the_cli(
    server: BackgroundServer, tokens: Tokens, rig: Rig, db: Path
) -> None:
    _, by_api = rig.create(["deploy", GATE, "promote"])
    store = rig.stores[-1]
    with httpx.Client(base_url=server.url, timeout=5) as api:
        refused = api.post(f"/api/admin/rollouts/{by_api}/approve", headers=bearer(tokens.admin))
        assert refused.status_code == 409  # not waiting yet
        assert api.post(f"/api/admin/rollouts/{by_api}/approve").status_code == 401
        as_reader = api.post(f"/api/admin/rollouts/{by_api}/approve", headers=bearer(tokens.client))
        assert as_reader.status_code == 403
        thread = drive(rig, by_api)
        wait_for(lambda: approvals.waiting(store, by_api) is not None, "the gate")
        shown = api.get(f"/api/admin/rollouts/{by_api}", headers=bearer(tokens.admin)).json()
        assert shown["waiting_for_approval"]["message"] == "ship to everyone?"
        answer = api.post(
            f"/api/admin/rollouts/{by_api}/approve",
            headers={**bearer(tokens.admin), "X-Rollsafe-Actor": "alice"},
            json={"comment": "go"},
        )
        assert answer.status_code == 200, answer.text
        thread.join(10)
    assert store.get_rollout(by_api).state is RolloutState.PROMOTED
    assert store.steps(by_api)[1].result["approved_by"] == "alice via token ops"

    _, by_cli = rig.create(["deploy", GATE, "promote"])
    runner = CliRunner()
    early = runner.invoke(cli, ["--home", str(db.parent), "rollout", "approve", by_cli, "--json"])
    assert early.exit_code == 1
    assert "waits for no approval" in " ".join(early.output.split())
    thread = drive(rig, by_cli)
    wait_for(lambda: approvals.waiting(store, by_cli) is not None, "the gate")
    done = runner.invoke(cli, ["--home", str(db.parent), "rollout", "approve", by_cli, "--json"])
    assert done.exit_code == 0, done.output
    assert '"approved_now": true' in done.output
    thread.join(10)
    assert store.get_rollout(by_cli).state is RolloutState.PROMOTED
    assert store.steps(by_cli)[1].result["approved_by"].startswith("cli (")


def test_the_rollout_page_charts_both_arms_and_the_judges_evidence(
    server: BackgroundServer, tokens: Tokens, rig: Rig
) -> None:
    rig.source = ReplaySource(looks_with_latency(12))
    controller, rollout_id = rig.create(
        ["deploy", "flag", "analysis: {duration: 200ms}", "promote"]
    )
    controller.run(rollout_id)
    with httpx.Client(base_url=server.url, headers=bearer(tokens.client), timeout=5) as viewer:
        page = viewer.get(f"/ui/rollouts/{rollout_id}").text
    assert "Analysis, step 2" in page
    for series in ("baseline", "canary", "baseline p99", "canary p50", "e-value", "estimate"):
        assert f'data-series="{series}"' in page, series
    assert "e-value (log)" in page
    assert 'data-action="abort"' not in page  # a read token sees no buttons
    assert page.count("<svg") >= 5  # error rate, latency, memory, e-value, effect
    memory = page.split('aria-label="memory"')[1].split("</svg>")[0]
    assert 'data-series="canary"' in memory
    assert 'data-series="baseline"' in memory


def looks_with_latency(looks: int) -> list[Observation]:
    """Healthy looks at both arms with latency histograms and memory, as a scrape has them."""
    data: list[Observation] = []
    for look in range(1, looks + 1):
        for arm, memory in (("canary", 61e6), ("baseline", 52e6)):
            slow = 0.2  # the same latency in both arms
            total = 400.0 * look
            buckets = {
                "0.05": total * (1 - slow),
                "0.25": total * 0.97,
                "1.0": total,
                "+Inf": total,
            }
            data.append(
                {
                    "t": float(look),
                    "arm": arm,
                    "requests": total,
                    "errors": total * 0.001,
                    "latency_seconds_bucket": buckets,
                    "memory_bytes": memory + look * 4e5,
                }
            )
    return data


def test_the_rollouts_table_filters_and_pages(
    server: BackgroundServer, tokens: Tokens, db: Path
) -> None:
    store = SqliteStore(db)
    try:
        for number in range(130):
            rollout = store.create_rollout(
                service=f"svc-{number % 2}",
                plan_path="/plan.yaml",
                plan_text="version: 1",
                steps=[("promote", {})],
                actor="test",
            )
            if number % 5 == 0:
                store.set_rollout_state(rollout.id, RolloutState.FAILED, actor="test")
    finally:
        store.close()
    with httpx.Client(base_url=server.url, headers=bearer(tokens.client), timeout=5) as viewer:
        first = viewer.get("/ui/rollouts").text
        assert "130 rollouts · page 1 of 3" in first
        assert first.count('<a href="/ui/rollouts/ro-') == 50
        failed = viewer.get("/ui/rollouts", params={"state": "failed"}).text
        assert "26 rollouts · page 1 of 1" in failed
        both = viewer.get("/ui/rollouts", params={"state": "failed", "service": "svc-1"}).text
        assert "13 rollouts" in both
        last = viewer.get("/ui/rollouts", params={"page": 3}).text
        assert last.count('<a href="/ui/rollouts/ro-') == 30


def test_the_kill_switch_and_the_journal_page(
    server: BackgroundServer, tokens: Tokens, store: SqliteStore
) -> None:
    store.put_flag(
        "checkout",
        {"name": "checkout", "enabled": True, "strategies": [
            {"name": "flexibleRollout", "parameters": {"rollout": "25"}}
        ]},
        actor="test",
    )  # fmt: skip
    with signed_in(server, tokens.admin) as admin:
        flags = admin.get("/ui/flags").text
        assert "25%" in flags
        assert 'data-action="kill"' in flags
        assert admin.post("/ui/flags/checkout/kill").status_code == 403  # no CSRF token
        assert store.get_flag("checkout").definition["enabled"] is True
        assert admin.post("/ui/flags/checkout/kill", data={"csrf": csrf(admin)}).status_code == 303
        assert store.get_flag("checkout").definition["enabled"] is False
        history = admin.get("/ui/flags/checkout").text
        assert history.count("flag.changed") == 2
        assert "token ops" in history
        journal = admin.get("/ui/journal").text
        assert "every link holds" in journal


def next_update(events: Any) -> str:
    """The next ``update`` event's text from an open SSE response."""
    event: list[str] = []
    for line in events.iter_lines():
        if line:
            event.append(line)
            continue
        text = "\n".join(event)
        event = []
        if text.startswith("event: update"):
            return text
    raise AssertionError("the stream ended without an update")


def test_the_flags_and_rollouts_tables_update_live(
    server: BackgroundServer, tokens: Tokens, store: SqliteStore
) -> None:
    store.put_flag("checkout", rollout_feature("checkout", 40), actor="test")
    with httpx.Client(base_url=server.url, headers=bearer(tokens.admin), timeout=10) as admin:
        assert 'data-live="/ui/flags/events"' in admin.get("/ui/flags").text
        with admin.stream("GET", "/ui/flags/events") as events:
            time.sleep(0.3)  # the stream has rendered what the page showed
            started = time.monotonic()
            assert admin.post("/api/admin/flags/checkout/kill").status_code == 200
            update = next_update(events)
            assert time.monotonic() - started < 2.0
        assert ">off<" in update
        assert "40%" not in update

        assert 'data-live="/ui/rollouts/events?state=pending"' in (
            admin.get("/ui/rollouts", params={"state": "pending"}).text
        )
        with admin.stream("GET", "/ui/rollouts/events", params={"state": "pending"}) as events:
            time.sleep(0.3)
            created = store.create_rollout(
                service="shop", plan_path="/p.yaml", plan_text="", steps=[], actor="test"
            )
            update = next_update(events)
        assert created.id in update
        assert "1 rollouts" in update
