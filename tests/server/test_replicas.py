"""Flag-server replicas over one PostgreSQL database: NOTIFY brings each other's changes at once.

The replicas poll only every 30 s here, so a change that shows within a second
came through LISTEN/NOTIFY (or the read a listener does after reconnecting).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from rollsafe.flags import rollout_feature
from rollsafe.sdk import FlagClient, FlagsChanged
from rollsafe.server import BackgroundServer, ServerSettings
from rollsafe.store import PostgresStore
from rollsafe.store.listen import LISTEN_SUFFIX, Listener
from rollsafe.support.http import http_get
from tests.server.servers import StreamReader, Tokens, add_tokens, bearer, eventually, free_port
from tests.store.backends import admin, postgres_schema, terminate

NOTIFY_ONLY = ServerSettings(
    heartbeat=0.3,
    poll_interval=30.0,
    notified_poll_interval=30.0,
    send_timeout=1.0,
    token_cache_ttl=0.5,
)
PROMPT = 1.0
"""Seconds within which a change must reach the other replica's streams."""


@dataclass
class Replicas:
    url: str
    """The database (a fresh schema of it) both replicas serve."""
    a: BackgroundServer
    b: BackgroundServer
    b_name: str
    """The application_name of B's PostgreSQL sessions."""
    tokens: Tokens

    def stream(self, server: BackgroundServer, token: str | None = None) -> StreamReader:
        return StreamReader(f"{server.url}/api/client/stream", token or self.tokens.client)

    def admin(self, server: BackgroundServer) -> httpx.Client:
        return httpx.Client(base_url=server.url, headers=bearer(self.tokens.admin), timeout=5)


def named(url: str, application_name: str) -> str:
    return f"{url}&application_name={application_name}"


def sessions(application_name: str) -> list[int]:
    """Backend pids of that application's PostgreSQL sessions."""
    with admin() as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        ).fetchall()
    return [row[0] for row in rows]


def notifications(server: BackgroundServer) -> str:
    state = http_get(f"{server.url}/health", timeout=5).json()["notifications"]
    assert isinstance(state, str)
    return state


def payload(event: dict[str, str]) -> dict[str, Any]:
    parsed = json.loads(event["data"])
    assert isinstance(parsed, dict)
    return parsed


@pytest.fixture
def replicas() -> Iterator[Replicas]:
    with postgres_schema() as url, contextlib.ExitStack() as servers:
        store = PostgresStore(url)
        try:
            tokens = add_tokens(store)
            store.put_flag("checkout", rollout_feature("checkout", 100), actor="test")
        finally:
            store.close()
        name = f"rs-test-{secrets.token_hex(4)}"
        a = BackgroundServer(named(url, f"{name}-a"), NOTIFY_ONLY).start()
        servers.callback(a.stop)
        b = BackgroundServer(named(url, f"{name}-b"), NOTIFY_ONLY).start()
        servers.callback(b.stop)
        for server in (a, b):
            assert eventually(lambda server=server: notifications(server) == "listening")
        yield Replicas(url, a, b, f"{name}-b", tokens)


def test_a_change_through_one_replica_streams_from_the_other_within_a_second(
    replicas: Replicas,
) -> None:
    changes: list[tuple[float, FlagsChanged]] = []
    reader = replicas.stream(replicas.b)
    flags = FlagClient(replicas.b.url, replicas.tokens.client)
    flags.add_listener(lambda change: changes.append((time.monotonic(), change)))
    try:
        flags.start()
        assert flags.wait_until_ready(5)
        assert flags.is_enabled("checkout", {"userId": "u1"})
        reader.wait_for(1)
        with replicas.admin(replicas.a) as api:
            started = time.monotonic()
            killed = api.post("/api/admin/flags/checkout/kill")
        assert killed.json()["changed"] is True
        update = reader.wait_for(2, timeout=PROMPT)[1]
        (event,) = payload(update)["events"]
        assert (event["feature"]["name"], event["feature"]["enabled"]) == ("checkout", False)
        assert eventually(lambda: not flags.is_enabled("checkout", {"userId": "u1"}), PROMPT)
        seen_at = next(at for at, change in changes if "checkout" in change.names)
        assert seen_at - started < PROMPT
        assert flags.revision == int(update["id"])
    finally:
        flags.stop()
        reader.close()


def test_a_replica_whose_listen_connection_is_killed_reconnects_and_streams_later_changes(
    replicas: Replicas,
) -> None:
    listen = f"{replicas.b_name}{LISTEN_SUFFIX}"
    (before,) = sessions(listen)
    reader = replicas.stream(replicas.b)
    try:
        reader.wait_for(1)
        assert terminate(listen) == 1
        with replicas.admin(replicas.a) as api:
            # Written while B may still be reconnecting: B reads it once it listens again.
            created = api.put(
                "/api/admin/flags/search",
                json={"definition": rollout_feature("search", 10), "expected_version": 0},
            )
            assert created.status_code == 201
            reader.wait_for(2, timeout=PROMPT)
            assert eventually(lambda: len(sessions(listen)) == 1)
            assert sessions(listen) != [before]
            assert notifications(replicas.b) == "listening"
            # Written once B listens on its new connection: only NOTIFY brings it in time.
            api.post("/api/admin/flags/checkout/kill")
            update = reader.wait_for(3, timeout=PROMPT)[2]
        (event,) = payload(update)["events"]
        assert (event["feature"]["name"], event["feature"]["enabled"]) == ("checkout", False)
    finally:
        reader.close()


def test_a_change_written_straight_to_the_store_reaches_a_replica_stream_at_once(
    replicas: Replicas,
) -> None:
    controller = PostgresStore(replicas.url, application_name="rs-test-controller")
    reader = replicas.stream(replicas.b)
    try:
        reader.wait_for(1)
        controller.put_flag("checkout", rollout_feature("checkout", 25), actor="controller")
        update = reader.wait_for(2, timeout=PROMPT)[1]
        (event,) = payload(update)["events"]
        assert event["feature"]["strategies"][0]["parameters"]["rollout"] == "25"
        assert int(update["id"]) == controller.flags_revision()
    finally:
        reader.close()
        controller.close()


def test_a_token_revoked_through_one_replica_ends_its_streams_on_every_replica(
    replicas: Replicas,
) -> None:
    with replicas.admin(replicas.a) as api:
        created = api.post("/api/admin/tokens", json={"name": "temp", "scope": "client"}).json()
        on_a = replicas.stream(replicas.a, created["token"])
        on_b = replicas.stream(replicas.b, created["token"])
        try:
            on_a.wait_for(1)
            on_b.wait_for(1)
            started = time.monotonic()
            assert api.delete(f"/api/admin/tokens/{created['id']}").status_code == 200
            assert on_a.closed.wait(PROMPT)
            assert on_b.closed.wait(NOTIFY_ONLY.token_cache_ttl + PROMPT)
            assert time.monotonic() - started < NOTIFY_ONLY.token_cache_ttl + PROMPT
        finally:
            on_a.close()
            on_b.close()
    for reader in (on_a, on_b):
        assert ": closed: API token 'temp' was revoked" in reader.lines
    url = f"{replicas.b.url}/api/client/stream"
    with httpx.stream("GET", url, headers=bearer(created["token"]), timeout=5) as again:
        assert again.status_code == 401


def test_a_listener_wakes_on_notify_and_stops_at_once_leaving_no_session() -> None:
    with postgres_schema() as url:
        name = f"rs-test-{secrets.token_hex(4)}"
        woken = threading.Event()
        listener = Listener(named(url, name), woken.set).start()
        try:
            assert listener.wait_listening(5)
            assert woken.wait(PROMPT)  # the read owed after connecting
            woken.clear()
            with admin() as connection:
                connection.execute("SELECT pg_notify('rollsafe_flags', '1')")
            assert woken.wait(PROMPT)
            assert len(sessions(f"{name}{LISTEN_SUFFIX}")) == 1
        finally:
            started = time.monotonic()
            listener.stop()
            stopped_in = time.monotonic() - started
        assert stopped_in < 0.5
        assert not listener.listening
        assert eventually(lambda: sessions(f"{name}{LISTEN_SUFFIX}") == [])


def test_a_listener_without_a_server_retries_in_the_background_and_stops_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/test?connect_timeout=1"
    listener = Listener(nowhere, lambda: None, backoff=0.01, max_backoff=0.05).start()
    try:
        assert eventually(lambda: "cannot LISTEN on" in caplog.text)
        assert not listener.wait_listening(0.2)
    finally:
        started = time.monotonic()
        listener.stop()
    assert time.monotonic() - started < 0.5
    assert caplog.text.count("cannot LISTEN on") == 1  # one warning per outage, not per try
