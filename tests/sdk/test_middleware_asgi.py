"""The ASGI middleware in real FastAPI and Starlette apps under uvicorn on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.routing import Route

from rollsafe.sdk import FlagClient
from rollsafe.sdk.middleware import RollsafeMiddleware
from tests.demo.servers import Server
from tests.sdk.middleware_support import (
    CHECKOUT,
    COLOUR,
    FEATURES,
    BoomError,
    assert_counted,
    exercise,
    flags,
    requests_to_send,
    scrape,
)


def fastapi_app(client: FlagClient, **options: object) -> FastAPI:
    app = FastAPI()

    @app.get("/checkout")
    async def checkout(user: str, fail: str = "") -> PlainTextResponse:
        on = client.is_enabled(CHECKOUT, {"userId": user})
        await asyncio.sleep(0.005)  # overlap concurrent requests: their notes must not mix
        if on and fail:
            return PlainTextResponse("new path failed", status_code=500)
        return PlainTextResponse("on" if on else "off")

    @app.get("/colour")
    def colour(user: str) -> PlainTextResponse:  # a sync route: runs in a worker thread
        return PlainTextResponse(client.get_variant(COLOUR, {"userId": user})["name"])

    @app.get("/both")
    async def both(user: str) -> PlainTextResponse:
        client.is_enabled(CHECKOUT, {"userId": user})
        return PlainTextResponse(client.get_variant(COLOUR, {"userId": user})["name"])

    @app.get("/plain")
    async def plain() -> PlainTextResponse:
        return PlainTextResponse("plain")

    @app.get("/boom")
    async def boom(user: str) -> PlainTextResponse:
        client.is_enabled(CHECKOUT, {"userId": user})
        raise BoomError(user)

    @app.middleware("http")  # the app's own middleware, inside rollsafe's: the handler
    async def timing(request: Request, call_next: Any) -> Any:  # runs in a task of its own
        response = await call_next(request)
        response.headers["X-Served-By"] = "fastapi"
        return response

    app.add_middleware(RollsafeMiddleware, client=client, **options)
    return app


def starlette_app(client: FlagClient, **options: object) -> Starlette:
    async def checkout(request: Request) -> Response:
        user, fail = request.query_params["user"], request.query_params.get("fail")
        on = client.is_enabled(CHECKOUT, {"userId": user})
        await asyncio.sleep(0.005)
        if on and fail:
            return PlainTextResponse("new path failed", status_code=500)
        return PlainTextResponse("on" if on else "off")

    async def colour(request: Request) -> Response:
        context = {"userId": request.query_params["user"]}
        return PlainTextResponse(client.get_variant(COLOUR, context)["name"])

    async def both(request: Request) -> Response:
        context = {"userId": request.query_params["user"]}
        client.is_enabled(CHECKOUT, context)
        return PlainTextResponse(client.get_variant(COLOUR, context)["name"])

    async def plain(request: Request) -> Response:
        return PlainTextResponse("plain")

    async def boom(request: Request) -> Response:
        client.is_enabled(CHECKOUT, {"userId": request.query_params["user"]})
        raise BoomError(request.query_params["user"])

    routes = [
        Route("/checkout", checkout),
        Route("/colour", colour),
        Route("/both", both),
        Route("/plain", plain),
        Route("/boom", boom),
    ]
    return Starlette(
        routes=routes, middleware=[Middleware(RollsafeMiddleware, client=client, **options)]
    )


AppFactory = Callable[..., object]


@pytest.fixture(params=[fastapi_app, starlette_app], ids=["fastapi", "starlette"])
def make_app(request: pytest.FixtureRequest) -> AppFactory:
    factory: AppFactory = request.param
    return factory


@pytest.fixture
def serve() -> Iterator[Callable[[object], str]]:
    servers: list[Server] = []

    def start(app: object) -> str:
        servers.append(Server(app).start())
        return servers[-1].url

    yield start
    for server in servers:
        server.stop()


def test_counts_every_request_per_variant_and_sets_the_header(
    make_app: AppFactory, serve: Callable[[object], str]
) -> None:
    client = flags()
    url = serve(make_app(client, release="1.2.0"))
    sent = requests_to_send()
    exercise(url, sent)
    exposition = assert_counted(url, sent)
    # 5xx are counted on the variant that produced them, raised exceptions as 500.
    assert exposition.requests[CHECKOUT, "on", "500"] > 3
    assert all(labels["release"] == "1.2.0" for labels in exposition.labels)
    # Scrapes are not requests of the app: a second scrape counts the same.
    assert scrape(url).requests == exposition.requests
    assert client._running  # the middleware started it with the app


def test_path_and_header_are_configurable(
    make_app: AppFactory, serve: Callable[[object], str]
) -> None:
    client = flags()
    url = serve(make_app(client, metrics_path="/-/flagmetrics", variant_header="X-Arm"))
    response = httpx.get(f"{url}/colour", params={"user": "u1"})
    variant = client.get_variant(COLOUR, {"userId": "u1"})["name"]
    assert response.headers["x-arm"] == f"{COLOUR}={variant}"
    assert "x-rollsafe-variant" not in response.headers
    assert httpx.get(f"{url}/metrics").status_code == 404  # the app's own 404
    assert scrape(url, "/-/flagmetrics").requests == {
        (COLOUR, variant, "200"): 1,
        ("", "none", "404"): 1,
    }


def test_an_async_client_is_started_with_the_app_and_stopped_after(
    serve: Callable[[object], str],
) -> None:
    from rollsafe.sdk import AsyncFlagClient

    client = AsyncFlagClient(bootstrap=FEATURES)
    app = fastapi_app(client)  # type: ignore[arg-type]
    server = Server(app).start()
    try:
        assert client._running
        response = httpx.get(f"{server.url}/checkout", params={"user": "u3"})
        assert response.headers["x-rollsafe-variant"].startswith(f"{CHECKOUT}=")
    finally:
        server.stop()
    assert not client._running
