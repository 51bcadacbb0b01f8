"""Unleash's delta API, ``/api/client/streaming``, filters and one flag, over real HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from rollsafe.flags import rollout_feature
from rollsafe.server import BackgroundServer, ServerSettings
from rollsafe.server.unleash_views import inline_segments, supports_segments
from rollsafe.store.sqlite import SqliteStore
from tests.server.servers import StreamReader, Tokens, bearer, eventually, in_thread


def feature(
    name: str, *, project: str = "default", tags: list[Any] | None = None
) -> dict[str, Any]:
    return {**rollout_feature(name, 50), "project": project, "tags": tags or []}


def get(server: BackgroundServer, tokens: Tokens, path: str, **kwargs: Any) -> httpx.Response:
    headers = {**bearer(tokens.client), **kwargs.pop("headers", {})}
    return httpx.get(f"{server.url}/api/client/{path}", headers=headers, **kwargs)


def test_delta_hydrates_then_sends_only_the_changes(
    server: BackgroundServer, tokens: Tokens, api: httpx.Client, store: SqliteStore
) -> None:
    store.put_flag("checkout", feature("checkout"), actor="test")
    store.put_flag("search", feature("search"), actor="test")
    # Written straight to the store, as another process would: the server's feed (delta and
    # streaming) sees the revision at its next poll (a clean-clone run asked before: eventId 0).
    assert eventually(lambda: get(server, tokens, "delta").headers.get("etag") == '"2"')
    first = get(server, tokens, "delta")
    [hydration] = first.json()["events"]
    assert hydration["type"] == "hydration"
    assert hydration["eventId"] == 2
    assert [f["name"] for f in hydration["features"]] == ["checkout", "search"]
    assert first.headers["etag"] == '"2"'
    unchanged = get(server, tokens, "delta", headers={"If-None-Match": '"2"'})
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    api.post("/api/admin/flags/search/kill")
    flag = api.get("/api/admin/flags/checkout").json()
    api.delete("/api/admin/flags/checkout", params={"expected_version": flag["version"]})
    changes = get(server, tokens, "delta", headers={"If-None-Match": '"2"'})
    events = changes.json()["events"]
    assert [(e["type"], e["eventId"]) for e in events] == [
        ("feature-updated", 3),
        ("feature-removed", 4),
    ]
    assert events[0]["feature"]["enabled"] is False
    assert events[1]["featureName"] == "checkout"
    assert changes.headers["etag"] == '"4"'
    # An ETag this server never gave (a revision from the future, garbage) hydrates again.
    for held in ('"99"', "nonsense"):
        again = get(server, tokens, "delta", headers={"If-None-Match": held})
        assert [e["type"] for e in again.json()["events"]] == ["hydration"]


def test_features_filter_by_project_prefix_and_tag(
    server: BackgroundServer, tokens: Tokens, store: SqliteStore
) -> None:
    store.put_flags(
        {
            "pay.new": feature(
                "pay.new", project="payments", tags=[{"type": "team", "value": "a"}]
            ),
            "pay.old": feature("pay.old", project="payments"),
            "ui.dark": feature("ui.dark", tags=[{"type": "team", "value": "a"}]),
        },
        actor="test",
    )

    def names(**params: Any) -> list[str]:
        answer = get(server, tokens, "features", params=params)
        assert answer.status_code == 200, answer.text
        return [f["name"] for f in answer.json()["features"]]

    assert names() == ["pay.new", "pay.old", "ui.dark"]
    assert names(project="payments") == ["pay.new", "pay.old"]
    assert names(namePrefix="ui.") == ["ui.dark"]
    assert names(tag="team:a") == ["pay.new", "ui.dark"]
    assert names(project="payments", tag="team:a") == ["pay.new"]
    assert names(project=["payments", "default"], namePrefix="pay.o") == ["pay.old"]
    delta = get(server, tokens, "delta", params={"project": "default"}).json()
    assert [f["name"] for f in delta["events"][0]["features"]] == ["ui.dark"]
    # A filtered document has its own ETag, and 304 against it.
    filtered = get(server, tokens, "features", params={"namePrefix": "ui."})
    assert filtered.headers["etag"] != get(server, tokens, "features").headers["etag"]
    assert get(
        server, tokens, "features", params={"namePrefix": "ui."},
        headers={"If-None-Match": filtered.headers["etag"]},
    ).status_code == 304  # fmt: skip
    bad = get(server, tokens, "features", params={"tag": "no-colon"})
    assert (bad.status_code, bad.json()["problems"][0]["field"]) == (400, "tag")


def test_one_feature_by_name(server: BackgroundServer, tokens: Tokens, store: SqliteStore) -> None:
    store.put_flag("checkout", feature("checkout"), actor="test")
    answer = get(server, tokens, "features/checkout")
    assert answer.json()["name"] == "checkout"
    assert answer.json()["strategies"][0]["parameters"]["rollout"] == "50"
    assert get(server, tokens, "features/nope").status_code == 404


def test_streaming_sends_connected_then_updated(
    server: BackgroundServer, tokens: Tokens, api: httpx.Client, store: SqliteStore
) -> None:
    store.put_flag("checkout", feature("checkout"), actor="test")
    assert eventually(lambda: get(server, tokens, "delta").headers.get("etag") == '"1"')
    reader = StreamReader(f"{server.url}/api/client/streaming", tokens.client)
    try:
        first = reader.wait_for(1)[0]
        assert first["event"] == "unleash-connected"
        [hydration] = json.loads(first["data"])["events"]
        assert [f["name"] for f in hydration["features"]] == ["checkout"]
        api.post("/api/admin/flags/checkout/kill")
        update = reader.wait_for(2)[1]
        assert update["event"] == "unleash-updated"
        [event] = json.loads(update["data"])["events"]
        assert (event["type"], event["feature"]["enabled"]) == ("feature-updated", False)
    finally:
        reader.close()


def test_a_full_server_sends_streaming_clients_back_to_polling(db: Path, tokens: Tokens) -> None:
    server = in_thread(db, ServerSettings(heartbeat=0.3, poll_interval=0.02, max_streams=1))
    holder = StreamReader(f"{server.url}/api/client/streaming", tokens.client)
    try:
        holder.wait_for(1)
        refused = httpx.get(f"{server.url}/api/client/streaming", headers=bearer(tokens.client))
        assert refused.status_code == 200
        assert refused.headers["content-type"].startswith("text/event-stream")
        assert refused.text == "event: fetch-mode\ndata: polling\n\n"
        # The older endpoint keeps answering 503 with Retry-After.
        assert httpx.get(
            f"{server.url}/api/client/stream", headers=bearer(tokens.client)
        ).status_code == 503  # fmt: skip
    finally:
        holder.close()
        server.stop()


def test_client_spec_decides_whether_segments_are_inlined() -> None:
    assert not supports_segments(None)
    assert not supports_segments("4.1.9")
    assert supports_segments("4.2.0")
    assert supports_segments("5.2.0")
    assert not supports_segments("garbage")
    features = [
        {
            "name": "f",
            "strategies": [{"name": "default", "segments": [7], "constraints": [{"a": 1}]}],
        }
    ]
    segments = [{"id": 7, "constraints": [{"b": 2}]}]
    [shaped] = inline_segments(features, segments)
    assert shaped["strategies"][0] == {"name": "default", "constraints": [{"a": 1}, {"b": 2}]}
    assert features[0]["strategies"][0]["segments"] == [7]  # the input is left alone
