"""`create_app`: the flag service as a FastAPI application over a rollsafe state store."""

from __future__ import annotations

import functools
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from rollsafe import __version__
from rollsafe.sdk.protocol import STREAM_PATH
from rollsafe.server import admin, client, errors
from rollsafe.server.auth import Authenticator
from rollsafe.server.feed import ChangeFeed
from rollsafe.server.service import Service
from rollsafe.server.settings import ServerSettings
from rollsafe.store.protocol import Store
from rollsafe.store.sqlite import SqliteStore

DESCRIPTION = """\
Feature flags with Unleash-compatible definitions, streamed to SDKs.

Authenticate with `Authorization: Bearer <token>`. Client tokens read
`/api/client/*`; admin tokens also read and write `/api/admin/*`. Tokens may be
bound to one environment. Errors are JSON: `{"error", "message", "problems"}`.
"""


MAX_BODY = 1024 * 1024
"""Bytes a request body may have (a flag definition is a few kilobytes)."""


class FlagServiceApp(FastAPI):
    """FastAPI, except that SSE streams bypass the middleware stack (see `serve_stream`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == STREAM_PATH
            and scope["method"] == "GET"
            and isinstance(getattr(self.state, "service", None), Service)
        ):
            await client.serve_stream(self.state.service, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    store: Path | Callable[[], Store], settings: ServerSettings | None = None
) -> FastAPI:
    """The flag service over a state store: a SQLite file (created if missing) or a factory.

    The app opens three connections (``store()`` three times): one for writes, one
    for token checks on the event loop, one for the change feed's thread.
    """
    settings = settings or ServerSettings()
    open_store: Callable[[], Store] = (
        store if callable(store) else functools.partial(SqliteStore, Path(store))
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Three connections: writes may wait on another process's lock, and neither
        # token checks (event loop) nor the change feed (its thread) should wait with them.
        writer, reader, feed_store = open_store(), open_store(), open_store()
        feed = ChangeFeed(feed_store, settings)
        service = Service(
            writer, reader, feed, Authenticator(reader, settings.token_cache_ttl), settings
        )
        feed.start()
        app.state.service = service
        # What exists now lives as long as the server: keep it out of the collector's
        # full passes, which otherwise stall every stream for tens of milliseconds.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await feed.stop()
            for each in (writer, reader, feed_store):
                each.close()

    app = FlagServiceApp(
        title="rollsafe flag service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        max_body_size=MAX_BODY,
    )
    errors.install(app)
    app.include_router(admin.router)
    app.include_router(client.router)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, Any]:
        """Liveness, without a token."""
        service: Service = app.state.service
        return {"status": "ok", "revision": service.feed.revision}

    return app


def close_streams(app: Any) -> None:
    """End every open stream of ``app`` (before a server shutdown, so it is not held up)."""
    service = getattr(getattr(app, "state", None), "service", None)
    if isinstance(service, Service):
        service.feed.close_streams("server shutting down")
