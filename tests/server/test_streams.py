"""The SSE stream: changes from the API and from other processes, resume, heartbeats, limits."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from rollsafe.flags import rollout_feature
from rollsafe.server import BackgroundServer, ServerSettings
from rollsafe.store.sqlite import SqliteStore
from rollsafe.support.http import http_get
from tests.server.servers import FAST, StreamReader, Tokens, bearer, eventually, in_thread


def stream_url(server: BackgroundServer) -> str:
    return f"{server.url}/api/client/stream"


def data(event: dict[str, str]) -> dict[str, object]:
    parsed = json.loads(event["data"])
    assert isinstance(parsed, dict)
    return parsed


def test_a_stream_starts_with_the_whole_state_then_gets_api_changes(
    server: BackgroundServer, tokens: Tokens, api: httpx.Client, store: SqliteStore
) -> None:
    store.put_flag("checkout", rollout_feature("checkout", 10), actor="test")
    reader = StreamReader(stream_url(server), tokens.client)
    try:
        first = reader.wait_for(1)[0]
        assert (first["event"], first["id"]) == ("unleash-connected", "1")
        (hydration,) = data(first)["events"]  # type: ignore[misc]
        assert hydration["type"] == "hydration"
        assert [f["name"] for f in hydration["features"]] == ["checkout"]
        api.post("/api/admin/flags/checkout/kill")
        update = reader.wait_for(2)[1]
        assert (update["event"], update["id"]) == ("unleash-updated", "2")
        (event,) = data(update)["events"]  # type: ignore[misc]
        assert event["type"] == "feature-updated"
        assert event["feature"]["enabled"] is False
    finally:
        reader.close()


def test_a_change_written_by_another_process_is_streamed(
    server: BackgroundServer, tokens: Tokens, db: Path
) -> None:
    reader = StreamReader(stream_url(server), tokens.client)
    try:
        reader.wait_for(1)
        subprocess.run(
            [sys.executable, "-m", "rollsafe", "--home", str(db.parent), "flags", "set",
             "search", "--rollout", "30", "--actor", "other-process"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        update = reader.wait_for(2)[1]
        (event,) = data(update)["events"]  # type: ignore[misc]
        assert event["feature"]["name"] == "search"
        assert event["feature"]["strategies"][0]["parameters"]["rollout"] == "30"
    finally:
        reader.close()


def test_a_stream_resumes_after_the_last_event_id(
    server: BackgroundServer, tokens: Tokens, store: SqliteStore
) -> None:
    store.create_environment("staging", actor="test")
    store.put_flag("a", rollout_feature("a", 10), actor="test")
    reader = StreamReader(stream_url(server), tokens.client)
    last_id = reader.wait_for(1)[0]["id"]
    reader.close()
    store.put_flag("b", rollout_feature("b", 20), actor="test")
    store.delete_flag("a", actor="test")
    store.put_flag("c", rollout_feature("c", 5), actor="test", environment="staging")
    assert eventually(lambda: server_revision(server, tokens) == 4)
    resumed = StreamReader(stream_url(server), tokens.client, {"Last-Event-ID": last_id})
    try:
        first = resumed.wait_for(1)[0]
        assert (first["event"], first["id"]) == ("unleash-connected", "4")
        events = data(first)["events"]
        assert [(e["type"], e.get("featureName") or e["feature"]["name"]) for e in events] == [  # type: ignore[attr-defined]
            ("feature-updated", "b"),
            ("feature-removed", "a"),
        ]
    finally:
        resumed.close()
    for unusable in ("garbage", "999"):
        fresh = StreamReader(stream_url(server), tokens.client, {"Last-Event-ID": unusable})
        try:
            (event,) = data(fresh.wait_for(1)[0])["events"]  # type: ignore[misc]
            assert event["type"] == "hydration"
            assert [f["name"] for f in event["features"]] == ["b"]
        finally:
            fresh.close()


def server_revision(server: BackgroundServer, tokens: Tokens) -> int:
    status = http_get(f"{server.url}/api/admin/status", headers=bearer(tokens.admin)).json()
    return int(status["revision"])


def test_heartbeats_keep_an_idle_stream_alive(server: BackgroundServer, tokens: Tokens) -> None:
    reader = StreamReader(stream_url(server), tokens.client)
    try:
        assert eventually(lambda: reader.lines.count(": heartbeat") >= 2, timeout=3)
    finally:
        reader.close()


def test_streams_beyond_the_limit_get_503(db: Path, tokens: Tokens) -> None:
    server = in_thread(db, ServerSettings(heartbeat=0.3, poll_interval=0.02, max_streams=2))
    readers = [StreamReader(stream_url(server), tokens.client) for _ in range(2)]
    try:
        for reader in readers:
            reader.wait_for(1)
        refused = httpx.get(stream_url(server), headers=bearer(tokens.client))
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "5"
        assert "2 streams" in refused.json()["message"]
    finally:
        for reader in readers:
            reader.close()
        server.stop()


def open_slow_stream(server: BackgroundServer, tokens: Tokens) -> socket.socket:
    """A raw stream whose client holds only 4 KB in its receive buffer, once it is open."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(
        f"GET /api/client/stream HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {tokens.client}\r\n\r\n".encode()
    )
    assert eventually(lambda: status(server, tokens)["streams"] == 1)
    return sock


def test_a_client_that_stops_reading_is_dropped(db: Path, tokens: Tokens) -> None:
    settings = ServerSettings(heartbeat=0.3, poll_interval=0.02, queue_limit=4, send_timeout=0.5)
    server = in_thread(db, settings)
    store = SqliteStore(db)
    sock = open_slow_stream(server, tokens)
    try:
        big = "x" * 400_000
        for version in range(30):  # ~12 MB the client never reads
            definition = {**rollout_feature("big", 10), "description": f"{version}{big}"}
            store.put_flag("big", definition, actor="test")
        assert eventually(lambda: status(server, tokens)["dropped_streams"] == 1, timeout=10)
        assert eventually(lambda: status(server, tokens)["streams"] == 0, timeout=5)
        assert status(server, tokens)["dropped_streams"] == 1
    finally:
        sock.close()
        store.close()
        server.stop()


def test_a_slow_reader_that_keeps_up_gets_every_change_in_order(db: Path, tokens: Tokens) -> None:
    """Writes the client's backlog holds up finish later, and what comes meanwhile waits."""
    # The client reads nothing until every change is written, which takes a second or two
    # on an idle machine and several on a starved one: send_timeout leaves room for that.
    settings = ServerSettings(heartbeat=5, poll_interval=0.02, queue_limit=64, send_timeout=30)
    server = in_thread(db, settings)
    store = SqliteStore(db)
    sock = open_slow_stream(server, tokens)
    try:
        big = "x" * 400_000
        versions = [f"v{version:02d}-" for version in range(24)]
        for marker in versions:  # ~10 MB, beyond what the kernel buffers for the socket
            definition = {**rollout_feature("big", 10), "description": marker + big}
            store.put_flag("big", definition, actor="test")
            time.sleep(0.05)  # one event each: the later ones find the stream backlogged
        received = bytearray()
        sock.settimeout(5)
        deadline = time.monotonic() + 60
        last = f'"description":"{versions[-1]}'.encode()
        while received.find(last, max(0, len(received) - 70_000)) < 0:  # the new bytes only
            assert time.monotonic() < deadline, "the last change never arrived"
            chunk = sock.recv(65_536)
            assert chunk, "the server closed the stream"
            received += chunk
            time.sleep(0.001)  # slower than the server writes: its writes wait for us
        seen = [received.find(f'"description":"{m}'.encode()) for m in versions]
        arrived = [position for position in seen if position >= 0]
        assert arrived == sorted(arrived)  # in order (the feed may merge close changes)
        assert status(server, tokens)["dropped_streams"] == 0
        assert status(server, tokens)["streams"] == 1
    finally:
        sock.close()
        store.close()
        server.stop()


def status(server: BackgroundServer, tokens: Tokens) -> dict[str, int]:
    response = http_get(f"{server.url}/api/admin/status", headers=bearer(tokens.admin))
    return dict(response.json())


def test_stopping_the_server_ends_open_streams_promptly(db: Path, tokens: Tokens) -> None:
    server = in_thread(db, FAST)
    reader = StreamReader(stream_url(server), tokens.client)
    reader.wait_for(1)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    assert reader.closed.wait(2)
    reader.close()
