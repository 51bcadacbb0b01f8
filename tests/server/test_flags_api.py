"""Flag CRUD over HTTP: optimistic concurrency, validation that writes nothing, journaling."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from rollsafe.flags import rollout_feature
from rollsafe.server import BackgroundServer
from rollsafe.store.sqlite import SqliteStore
from tests.server.servers import Tokens, bearer


def put(api: httpx.Client, name: str, definition: dict[str, Any], version: int) -> httpx.Response:
    return api.put(
        f"/api/admin/flags/{name}", json={"definition": definition, "expected_version": version}
    )


def test_create_read_update_delete(api: httpx.Client) -> None:
    created = put(api, "checkout", rollout_feature("checkout", 10), 0)
    assert created.status_code == 201
    assert created.json()["version"] == 1
    read = api.get("/api/admin/flags/checkout")
    assert read.headers["etag"] == '"1"'
    assert read.json()["definition"]["strategies"][0]["parameters"]["rollout"] == "10"
    updated = put(api, "checkout", rollout_feature("checkout", 50), 1)
    assert (updated.status_code, updated.json()["version"]) == (200, 2)
    assert [f["name"] for f in api.get("/api/admin/flags").json()["flags"]] == ["checkout"]
    assert (
        api.delete("/api/admin/flags/checkout", params={"expected_version": 2}).status_code == 204
    )
    gone = api.get("/api/admin/flags/checkout")
    assert (gone.status_code, gone.json()["error"]) == (404, "not_found")


def test_a_stale_version_gets_409_and_changes_nothing(
    api: httpx.Client, store: SqliteStore
) -> None:
    put(api, "checkout", rollout_feature("checkout", 10), 0)
    put(api, "checkout", rollout_feature("checkout", 20), 1)
    revision = store.flags_revision()
    stale = put(api, "checkout", rollout_feature("checkout", 90), 1)
    assert stale.status_code == 409
    assert "version 2, not 1" in stale.json()["message"]
    assert store.get_flag("checkout").definition["strategies"][0]["parameters"]["rollout"] == "20"
    assert store.flags_revision() == revision


def test_creating_an_existing_flag_or_deleting_a_stale_one_is_a_conflict(
    api: httpx.Client,
) -> None:
    put(api, "checkout", rollout_feature("checkout", 10), 0)
    assert put(api, "checkout", rollout_feature("checkout", 10), 0).status_code == 409
    stale_delete = api.delete("/api/admin/flags/checkout", params={"expected_version": 7})
    assert stale_delete.status_code == 409
    assert api.get("/api/admin/flags/checkout").status_code == 200


def test_concurrent_read_modify_writes_lose_no_update(api: httpx.Client, tokens: Tokens) -> None:
    """Eight writers each add their name to a flag's description, retrying on 409."""
    put(api, "shared", {**rollout_feature("shared", 1), "description": ""}, 0)
    conflicts: list[int] = []

    def writer(label: str) -> None:
        with httpx.Client(base_url=str(api.base_url), headers=bearer(tokens.admin), timeout=5) as c:
            while True:
                current = c.get("/api/admin/flags/shared").json()
                definition = current["definition"]
                definition["description"] += label
                response = put(c, "shared", definition, current["version"])
                if response.status_code == 200:
                    return
                assert response.status_code == 409
                conflicts.append(1)

    threads = [threading.Thread(target=writer, args=(str(i),)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    final = api.get("/api/admin/flags/shared").json()
    assert sorted(final["definition"]["description"]) == [str(i) for i in range(8)]
    assert final["version"] == 9


def test_an_invalid_definition_is_refused_naming_the_field(
    api: httpx.Client, store: SqliteStore
) -> None:
    bad = rollout_feature("checkout", 10)
    bad["strategies"][0]["constraints"] = [
        {"contextName": "userId", "operator": "NOPE", "values": []}
    ]
    response = put(api, "checkout", bad, 0)
    assert response.status_code == 422
    assert "operator" in response.json()["message"]
    wrong_type = put(api, "checkout", {"enabled": "yes"}, 0)
    assert (wrong_type.status_code, wrong_type.json()["error"]) == (422, "invalid_flag")
    assert "enabled: expected a boolean" in wrong_type.json()["message"]
    assert store.flags_revision() == 0
    assert store.list_flags() == []


def test_a_malformed_request_names_the_missing_field(api: httpx.Client, store: SqliteStore) -> None:
    response = api.put("/api/admin/flags/checkout", json={"definition": {"enabled": True}})
    assert response.status_code == 422
    body = response.json()
    assert body["problems"][0]["field"] == "body.expected_version"
    assert "expected_version" in body["message"]
    not_json = api.put(
        "/api/admin/flags/checkout", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 422
    mismatch = put(api, "checkout", rollout_feature("other", 5), 0)
    assert mismatch.status_code == 422
    assert mismatch.json()["problems"][0]["field"] == "definition.name"
    assert store.list_flags() == []


def test_every_change_is_journaled_with_the_caller(api: httpx.Client, store: SqliteStore) -> None:
    put(api, "checkout", rollout_feature("checkout", 10), 0)
    api.post("/api/admin/flags/checkout/kill", headers={"X-Rollsafe-Actor": "alice"})
    api.delete("/api/admin/flags/checkout", params={"expected_version": 2})
    entries = [(e.kind, e.actor) for e in store.journal() if e.kind.startswith("flag.")]
    assert entries == [
        ("flag.changed", "token ops"),
        ("flag.changed", "alice via token ops"),
        ("flag.deleted", "token ops"),
    ]


def test_the_kill_switch_turns_a_flag_off_and_keeps_its_strategies(api: httpx.Client) -> None:
    put(api, "checkout", rollout_feature("checkout", 40), 0)
    killed = api.post("/api/admin/flags/checkout/kill")
    assert killed.status_code == 200
    assert (killed.json()["changed"], killed.json()["definition"]["enabled"]) == (True, False)
    assert killed.json()["definition"]["strategies"][0]["parameters"]["rollout"] == "40"
    again = api.post("/api/admin/flags/checkout/kill")
    assert (again.json()["changed"], again.json()["version"]) == (False, 2)
    assert api.post("/api/admin/flags/nothing/kill").status_code == 404


def test_environments_keep_their_flags_apart(api: httpx.Client, server: BackgroundServer) -> None:
    assert api.post("/api/admin/environments", json={"name": "staging"}).status_code == 201
    assert api.post("/api/admin/environments", json={"name": "staging"}).status_code == 409
    bad_name = api.post("/api/admin/environments", json={"name": "Bad Name"})
    assert (bad_name.status_code, bad_name.json()["problems"][0]["field"]) == (422, "body.name")
    staging = {"environment": "staging"}
    api.put(
        "/api/admin/flags/checkout",
        params=staging,
        json={"definition": rollout_feature("checkout", 5), "expected_version": 0},
    )
    assert api.get("/api/admin/flags/checkout").status_code == 404
    assert api.get("/api/admin/flags/checkout", params=staging).json()["environment"] == "staging"
    missing = api.get("/api/admin/flags", params={"environment": "prod"})
    assert (missing.status_code, "no environment 'prod'" in missing.json()["message"]) == (
        404,
        True,
    )
    staging_token = api.post(
        "/api/admin/tokens", json={"name": "stg", "scope": "client", "environment": "staging"}
    ).json()["token"]
    features = httpx.get(f"{server.url}/api/client/features", headers=bearer(staging_token))
    assert [f["name"] for f in features.json()["features"]] == ["checkout"]
    other = httpx.get(
        f"{server.url}/api/client/features",
        params={"environment": "default"},
        headers=bearer(staging_token),
    )
    assert other.status_code == 403
    assert "only use environment 'staging'" in other.json()["message"]


def test_a_regex_that_can_backtrack_exponentially_is_refused_with_422(
    api: httpx.Client, store: SqliteStore
) -> None:
    constraint = {"contextName": "userId", "operator": "REGEX", "value": "^(a+)+$"}
    definition = {"enabled": True, "strategies": [{"name": "default", "constraints": [constraint]}]}
    response = api.put("/api/admin/flags/f", json={"definition": definition, "expected_version": 0})
    assert response.status_code == 422
    (problem,) = response.json()["problems"]
    assert problem["field"] == "definition"
    assert "strategies[0].constraints[0]" in problem["message"]
    assert "exponential time" in problem["message"]
    assert store.list_flags() == []
