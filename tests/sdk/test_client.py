"""The sync SDK against a real server on loopback: bootstrap, streaming, outages, fork."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import httpx
import pytest

from rollsafe.errors import FlagError
from rollsafe.flags import rollout_feature
from rollsafe.sdk import FlagClient, FlagsChanged
from rollsafe.server import BackgroundServer
from rollsafe.store.sqlite import SqliteStore
from tests.sdk.fakes import ScriptedStream
from tests.server.servers import ServerProcess, Tokens, eventually, free_port, make_tokens

USER = {"userId": "alice"}


def on(name: str) -> dict[str, object]:
    return rollout_feature(name, 100)


def off(name: str) -> dict[str, object]:
    return rollout_feature(name, 100, enabled=False)


def test_a_bootstrap_serves_flags_before_and_without_a_service(tmp_path: Path) -> None:
    document = {"version": 1, "features": [on("checkout"), off("search")]}
    from_dict = FlagClient(bootstrap=document)
    assert from_dict.is_enabled("checkout", USER)
    assert not from_dict.is_enabled("search", USER, default=True)
    assert from_dict.is_enabled("unknown", USER, default=True)
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(document))
    assert FlagClient(bootstrap=path).is_enabled("checkout", USER)
    assert not FlagClient(bootstrap=path).ready


def test_an_unreadable_bootstrap_is_refused_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"features": [{"name": "x", "enabled": "yes"}]}')
    with pytest.raises(FlagError, match=r"broken\.json: feature 'x': enabled"):
        FlagClient(bootstrap=broken)
    with pytest.raises(FlagError, match=r"missing\.json: cannot read it"):
        FlagClient(bootstrap=tmp_path / "missing.json")


def test_with_the_service_down_it_answers_defaults_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="rollsafe.sdk")
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    bootstrap = {"version": 1, "features": [on("known")]}
    with FlagClient(url, "rs_x.y", bootstrap=bootstrap, backoff_initial=0.05) as client:
        assert eventually(lambda: "unavailable" in caplog.text, timeout=3)
        assert client.is_enabled("known", USER)
        assert client.is_enabled("unknown", USER, default=True)
        assert not client.is_enabled("unknown", USER)
        assert client.get_variant("unknown")["enabled"] is False
        assert client.is_enabled("known", 42, default=True)  # type: ignore[arg-type]
        assert client.status == "disconnected"
    warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not per retry


def test_changes_stream_to_the_client_and_its_listeners(
    server: BackgroundServer, tokens: Tokens, api: httpx.Client
) -> None:
    heard: list[FlagsChanged] = []
    with FlagClient(server.url, tokens.client) as client:
        client.add_listener(heard.append)
        assert client.wait_until_ready(5)
        assert client.status == "streaming"
        api.put(
            "/api/admin/flags/checkout", json={"definition": on("checkout"), "expected_version": 0}
        )
        assert eventually(lambda: client.is_enabled("checkout", USER))
    assert heard[-1].names == frozenset({"checkout"})
    assert heard[-1].source == "stream"
    assert client.status == "stopped"


def test_the_kill_switch_reaches_a_streaming_client_within_a_second(
    server: BackgroundServer, tokens: Tokens, api: httpx.Client
) -> None:
    api.put("/api/admin/flags/checkout", json={"definition": on("checkout"), "expected_version": 0})
    with FlagClient(server.url, tokens.client) as client:
        assert client.wait_until_ready(5)
        users = [{"userId": f"user-{i}"} for i in range(200)]
        assert all(client.is_enabled("checkout", user) for user in users)
        started = time.monotonic()
        assert api.post("/api/admin/flags/checkout/kill").status_code == 200
        assert eventually(lambda: not client.is_enabled("checkout", USER), timeout=1)
        elapsed = time.monotonic() - started
        assert not any(client.is_enabled("checkout", user) for user in users)
    assert elapsed < 1


@pytest.mark.slow  # a server process, killed and started again
def test_it_reconnects_after_the_server_is_killed_and_restarted(tmp_path: Path) -> None:
    home = tmp_path / "home"
    tokens = make_tokens(home / "rollsafe.db")
    server = ServerProcess(home).start()
    store = SqliteStore(home / "rollsafe.db")
    client = FlagClient(server.url, tokens.client, backoff_initial=0.1, heartbeat_timeout=2)
    try:
        client.start()
        assert client.wait_until_ready(5)
        server.kill()
        store.put_flag("checkout", on("checkout"), actor="while the server was down")
        assert eventually(lambda: client.status == "disconnected", timeout=3)
        assert not client.is_enabled("checkout", USER)
        server.start()
        assert eventually(lambda: client.is_enabled("checkout", USER), timeout=10)
        assert client.status == "streaming"
        assert client.revision == store.flags_revision()
    finally:
        client.stop()
        server.kill()
        store.close()


def test_a_silent_stream_is_dropped_and_resumed_from_the_last_event_id() -> None:
    connected = (
        b'id: 7\nevent: unleash-connected\ndata: {"events": [{"type": "hydration", '
        b'"features": [{"name": "f", "enabled": true, "strategies": []}], "segments": []}]}\n\n'
    )
    fake = ScriptedStream([connected, b""])
    client = FlagClient(fake.url, "rs_a.b", heartbeat_timeout=0.3, backoff_initial=0.05)
    try:
        client.start()
        assert eventually(lambda: len(fake.requests) >= 2, timeout=3)
        assert client.is_enabled("f", USER)
        (first_at, first), (second_at, second) = fake.requests[:2]
        assert "last-event-id" not in first.lower()
        assert "last-event-id: 7" in second.lower()
        assert "authorization: bearer rs_a.b" in second.lower()
        # The first stream went silent after its event: dropped after the heartbeat timeout.
        assert 0.3 <= second_at - first_at < 1.5
    finally:
        client.stop()
        fake.close()


def test_polling_fetches_changes_when_streaming_is_off(
    server: BackgroundServer, tokens: Tokens, store: SqliteStore
) -> None:
    with FlagClient(server.url, tokens.client, streaming=False, poll_interval=0.05) as client:
        assert client.wait_until_ready(5)
        assert client.status == "polling"
        store.put_flag("checkout", on("checkout"), actor="test")
        assert eventually(lambda: client.is_enabled("checkout", USER), timeout=3)


def test_a_service_without_a_stream_is_polled_instead() -> None:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    document = {"version": 1, "features": [on("checkout")], "meta": {"revision": 3}}

    async def features(request: object) -> JSONResponse:
        del request
        return JSONResponse(document)

    app = Starlette(routes=[Route("/api/client/features", features)])
    from tests.demo.servers import Server

    legacy = Server(app).start()
    try:
        with FlagClient(legacy.url, "t", poll_interval=0.05) as client:
            assert eventually(lambda: client.is_enabled("checkout", USER), timeout=3)
            assert client.status == "polling"
            assert client.revision == 3
    finally:
        legacy.stop()


def test_the_store_source_serves_a_service_without_a_server(tmp_path: Path) -> None:
    db = tmp_path / "home" / "rollsafe.db"
    with FlagClient(store=db, store_interval=0.02) as client:
        assert not db.exists()  # reading never creates a store
        store = SqliteStore(db)
        store.put_flag("checkout", on("checkout"), actor="controller")
        assert eventually(lambda: client.is_enabled("checkout", USER), timeout=3)
        store.put_flag("checkout", off("checkout"), actor="controller")
        assert eventually(lambda: not client.is_enabled("checkout", USER), timeout=3)
        store.close()


def test_more_flags_than_the_limit_are_refused_keeping_the_last_state(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "rollsafe.db"
    store = SqliteStore(db)
    store.put_flag("one", on("one"), actor="test")
    with FlagClient(store=db, store_interval=0.02, max_features=1) as client:
        assert client.is_enabled("one", USER)
        store.put_flag("two", on("two"), actor="test")
        assert eventually(lambda: "max_features=1" in caplog.text, timeout=3)
        assert client.is_enabled("one", USER)
        assert not client.is_enabled("two", USER)
    store.close()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+ warns on fork with threads
def test_a_forked_child_restarts_its_stream(
    server: BackgroundServer, tokens: Tokens, store: SqliteStore, db: Path
) -> None:
    store.put_flag("checkout", on("checkout"), actor="test")
    client = FlagClient(server.url, tokens.client, backoff_initial=0.05).start()
    try:
        assert client.wait_until_ready(5)
        pid = os.fork()
        if pid == 0:  # the child: its copy of the client has no thread until first used
            code = 3
            try:
                code = 2 if not client.is_enabled("checkout", USER) else 1
                writer = SqliteStore(db)
                writer.put_flag("checkout", off("checkout"), actor="child")
                if eventually(lambda: not client.is_enabled("checkout", USER), timeout=5):
                    code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert eventually(lambda: not client.is_enabled("checkout", USER))
    finally:
        client.stop()
