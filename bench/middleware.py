"""``python -m bench.middleware``: what the SDK middleware adds to a request, in one process.

Each request calls the app directly (no server, no socket), so the difference is
the middleware's own cost: a bare ASGI and WSGI app that evaluates one flag, and
a FastAPI app with one route, each with and without the middleware, alternated
for seven rounds; the best round of each counts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from rollsafe.flags import rollout_feature
from rollsafe.sdk import FlagClient
from rollsafe.sdk.middleware import RollsafeMiddleware, RollsafeWSGIMiddleware

FLAG = "new-checkout"
REQUESTS = 10_000
ROUNDS = 7
flags = FlagClient(bootstrap={"version": 1, "features": [rollout_feature(FLAG, 50)]})


async def bare_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    flags.is_enabled(FLAG, {"userId": scope["query_string"].decode()})
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def bare_wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    flags.is_enabled(FLAG, {"userId": environ["QUERY_STRING"]})
    start_response("200 OK", [])
    return [b"ok"]


def fastapi_app(with_middleware: bool) -> FastAPI:
    app = FastAPI()

    @app.get("/x")
    async def route(user: str) -> dict[str, bool]:
        return {"on": flags.is_enabled(FLAG, {"userId": user})}

    if with_middleware:
        app.add_middleware(RollsafeMiddleware)
    return app


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    pass


def per_asgi_request(app: Any, requests: int) -> float:
    async def run() -> float:
        started = time.perf_counter()
        for i in range(requests):
            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                "method": "GET", "scheme": "http", "path": "/x", "raw_path": b"/x",
                "root_path": "", "query_string": f"user={i}".encode(), "headers": [],
                "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
            }  # fmt: skip
            await app(scope, _receive, _send)
        return (time.perf_counter() - started) / requests

    return asyncio.run(run())


def per_wsgi_request(app: Any, requests: int) -> float:
    def run() -> float:
        started = time.perf_counter()
        for i in range(requests):
            environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/x", "QUERY_STRING": str(i)}
            body = app(environ, lambda *args: None)
            b"".join(body)
            getattr(body, "close", lambda: None)()
        return (time.perf_counter() - started) / requests

    return run()


def main() -> None:
    asgi, wsgi = RollsafeMiddleware(bare_asgi), RollsafeWSGIMiddleware(bare_wsgi)
    bare_fastapi, wrapped_fastapi = fastapi_app(False), fastapi_app(True)
    cases: list[tuple[str, Callable[[], float], Callable[[], float]]] = [
        ("ASGI app", lambda: per_asgi_request(bare_asgi, REQUESTS),
         lambda: per_asgi_request(asgi, REQUESTS)),
        ("WSGI app", lambda: per_wsgi_request(bare_wsgi, REQUESTS),
         lambda: per_wsgi_request(wsgi, REQUESTS)),
        ("FastAPI app", lambda: per_asgi_request(bare_fastapi, REQUESTS // 4),
         lambda: per_asgi_request(wrapped_fastapi, REQUESTS // 4)),
    ]  # fmt: skip
    print("| app | without | with the middleware | added |")
    print("|---|---|---|---|")
    for name, without_run, with_run in cases:
        # Alternated, best of each: other work on a shared machine only ever adds time.
        without = with_middleware = float("inf")
        for _ in range(ROUNDS):
            without = min(without, without_run())
            with_middleware = min(with_middleware, with_run())
        added = with_middleware - without
        print(f"| {name} | {without * 1e6:.1f} µs | {with_middleware * 1e6:.1f} µs "
              f"| {added * 1e6:.1f} µs |")  # fmt: skip


if __name__ == "__main__":
    main()
