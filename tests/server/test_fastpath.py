"""The hot routes served past FastAPI answer exactly as the documented routes do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Response

from rollsafe.flags import rollout_feature
from rollsafe.server import BackgroundServer
from rollsafe.server import app as app_module
from rollsafe.server.fastpath import FastRoutes
from rollsafe.server.tokens import new_token
from rollsafe.store.records import TokenScope
from rollsafe.store.sqlite import SqliteStore
from tests.server.servers import FAST, Tokens, bearer


async def known(caller: Any, service: Any, key: str, environment: str | None = None) -> Response:
    raise NotImplementedError


async def unknown(caller: Any, service: Any, limit: str | None = None) -> Response:
    raise NotImplementedError


def scope(method: str, path: str) -> dict[str, Any]:
    return {"method": method, "path": path}


def test_routes_are_found_by_method_and_path_and_unknown_parameters_opt_out() -> None:
    routes = FastRoutes(
        [("POST", "/things/{key}", known), ("GET", "/list", unknown), ("GET", "/exact", known)]
    )
    assert len(routes) == 2  # `unknown` takes a parameter the fast path cannot fill
    assert routes.find(scope("GET", "/list")) is None
    found = routes.find(scope("POST", "/things/abc"))
    assert found is not None
    assert found[1] == "abc"
    assert routes.find(scope("GET", "/things/abc")) is None
    assert routes.find(scope("POST", "/things/a/b")) is None
    assert routes.find(scope("POST", "/things/")) is None
    exact = routes.find(scope("GET", "/exact"))
    assert exact is not None
    assert exact[1] == ""


def test_fast_and_documented_routes_give_the_same_answers(
    db: Path, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(db)
    try:
        store.create_environment("staging", actor="test")
        staging, record = new_token("s", TokenScope.CLIENT, environment="staging", created_by="t")
        store.add_token(record, actor="test")
    finally:
        store.close()
    fast = BackgroundServer(db, FAST).start()
    monkeypatch.setattr(app_module, "FastRoutes", lambda routes: FastRoutes())
    slow = BackgroundServer(db, FAST).start()
    try:
        admin = bearer(tokens.admin)
        for name, rollout in (("half", 50), ("all", 100)):
            httpx.put(
                f"{fast.url}/api/admin/flags/{name}",
                json={"definition": rollout_feature(name, rollout), "expected_version": 0},
                headers=admin,
            ).raise_for_status()
        client = bearer(tokens.client)
        etag = httpx.get(f"{fast.url}/api/client/features", headers=client).headers["etag"]
        user = {"context": {"targetingKey": "u1"}}
        requests: list[tuple[str, str, dict[str, str], Any]] = [
            ("GET", "/api/client/features", client, None),
            ("GET", "/api/client/features?environment=default", client, None),
            ("GET", "/api/client/features?environment=nowhere", client, None),
            ("GET", "/api/client/features?environment=default", bearer(staging), None),
            ("GET", "/api/client/features", {**client, "If-None-Match": etag}, None),
            ("GET", "/api/client/features?namePrefix=ha", client, None),
            ("GET", "/api/client/features?project=default&project=other", client, None),
            ("GET", "/api/client/features?tag=simple:x&namePrefix=a", client, None),
            ("GET", "/api/client/features?tag=nocolon", client, None),
            ("GET", "/api/client/features", {**client, "Unleash-Client-Spec": "4.1.0"}, None),
            ("POST", "/ofrep/v1/evaluate/flags/half", client, user),
            ("POST", "/ofrep/v1/evaluate/flags/half", client, {}),
            ("POST", "/ofrep/v1/evaluate/flags/missing", client, user),
            ("POST", "/ofrep/v1/evaluate/flags/half?environment=nowhere", client, user),
            ("POST", "/ofrep/v1/evaluate/flags", client, user),
            ("POST", "/ofrep/v1/evaluate/flags", client, {"context": {"x": [1]}}),
            ("POST", "/ofrep/v1/evaluate/flags", client, b"{not json"),
            ("POST", "/ofrep/v1/evaluate/flags", bearer(staging), user),
        ]
        for method, path, headers, body in requests:
            answers = []
            for server in (fast, slow):
                kwargs: dict[str, Any] = {"headers": headers}
                if isinstance(body, bytes):
                    kwargs["content"] = body
                elif body is not None:
                    kwargs["json"] = body
                response = httpx.request(method, f"{server.url}{path}", **kwargs)
                kept = ("content-type", "etag", "cache-control")
                answers.append(
                    (response.status_code, response.content,
                     {k: response.headers.get(k) for k in kept})
                )  # fmt: skip
            assert answers[0] == answers[1], (method, path)
    finally:
        fast.stop()
        slow.stop()


def test_the_hot_routes_take_the_fast_path() -> None:
    """A route that gained a parameter the fast path cannot fill silently falls back to
    FastAPI (correct, several times slower): this says which, so the choice is deliberate."""
    app = app_module.create_app(":memory:")
    assert isinstance(app, app_module.FlagServiceApp)
    for method, path in (
        ("GET", "/api/client/features"),
        ("POST", "/ofrep/v1/evaluate/flags"),
        ("POST", "/ofrep/v1/evaluate/flags/some-flag"),
    ):
        assert app.fast_routes.find(scope(method, path)) is not None, (
            f"{method} {path} lost its fast path: teach rollsafe.server.fastpath its new "
            "parameters (KNOWN), or accept FastAPI's speed for it"
        )
