"""Stream slots: a request that does not end up streaming never holds one (issue 17, item 2)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from rollsafe.flags import rollout_feature
from rollsafe.server import ServerSettings
from rollsafe.store.sqlite import SqliteStore
from rollsafe.support.http import http_get
from tests.server.servers import StreamReader, Tokens, bearer, eventually, in_thread

# Ids no server ever sent: a Latin-1 superscript two (str.isdigit() says yes, int() says no),
# more digits than int() converts, a negative and an out-of-range revision.
UNUSABLE_IDS: list[bytes] = [b"\xb2", b"9" * 5000, b"-1", b"1" * 30, b"\xff\xfe"]


def test_unusable_last_event_ids_get_the_whole_state_and_leak_no_slot(
    db: Path, tokens: Tokens
) -> None:
    store = SqliteStore(db)
    store.put_flag("checkout", rollout_feature("checkout", 10), actor="test")
    store.close()
    server = in_thread(db, ServerSettings(heartbeat=0.3, poll_interval=0.02, max_streams=2))
    url = f"{server.url}/api/client/stream"
    try:
        with httpx.Client(timeout=5) as http:
            for _ in range(3):  # more requests than slots: a leak would show
                for bad in UNUSABLE_IDS:
                    headers = {**bearer(tokens.client), "Last-Event-ID": bad}  # type: ignore[dict-item]
                    with http.stream("GET", url, headers=headers) as response:
                        assert response.status_code == 200, bad[:10]
                        first = _first_event(response)
                    assert first["event"] == "unleash-connected"
                    (event,) = json.loads(first["data"])["events"]
                    assert event["type"] == "hydration"
                    assert [f["name"] for f in event["features"]] == ["checkout"]
        assert eventually(lambda: _streams(server.url, tokens) == 0)
        readers = [StreamReader(url, tokens.client) for _ in range(2)]
        try:
            for reader in readers:
                reader.wait_for(1)
            assert _streams(server.url, tokens) == 2
        finally:
            for reader in readers:
                reader.close()
    finally:
        server.stop()


def test_refused_streams_hold_no_slot(db: Path, tokens: Tokens) -> None:
    server = in_thread(db, ServerSettings(heartbeat=0.3, poll_interval=0.02, max_streams=1))
    url = f"{server.url}/api/client/stream"
    try:
        refusals = [
            httpx.get(url, params={"environment": "nowhere"}, headers=bearer(tokens.client)),
            httpx.get(url, headers=bearer(tokens.client + "x")),
            httpx.get(url, headers=bearer(tokens.admin), params={"environment": "Bad Name"}),
        ]
        assert [r.status_code for r in refusals] == [404, 401, 404]
        reader = StreamReader(url, tokens.client)
        try:
            reader.wait_for(1)
            refused = httpx.get(url, headers=bearer(tokens.client))
            assert refused.status_code == 503
            assert refused.headers["retry-after"]
            assert refused.headers["connection"] == "close"
        finally:
            reader.close()
        assert eventually(lambda: _streams(server.url, tokens) == 0)
    finally:
        server.stop()


def _first_event(response: httpx.Response) -> dict[str, str]:
    event: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            return event
        if not line.startswith(":"):
            key, _, value = line.partition(": ")
            event[key] = value
    raise AssertionError("the stream ended before its first event")


def _streams(url: str, tokens: Tokens) -> int:
    status = http_get(f"{url}/api/admin/status", headers=bearer(tokens.admin)).json()
    return int(status["streams"])
