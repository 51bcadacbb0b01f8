"""`create_app`: the flag service as a FastAPI application over a rollsafe state store."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

from fastapi import FastAPI, Request
from starlette.types import Receive, Scope, Send

from rollsafe import __version__
from rollsafe.errors import RollsafeError
from rollsafe.sdk.protocol import STREAM_PATH
from rollsafe.server import (
    admin,
    client,
    errors,
    ofrep,
    openapi,
    rollouts_api,
    ui,
    unleash,
    unleash_stream,
)
from rollsafe.server import alerts as alert_receiver
from rollsafe.server.accesslog import TOKEN_KEY, AccessLog
from rollsafe.server.auth import Authenticator, scope_needed
from rollsafe.server.descriptors import AcceptErrors, open_file_limit, stream_limit
from rollsafe.server.errors import ApiError, store_unavailable
from rollsafe.server.fastpath import FastRoutes
from rollsafe.server.feed import ChangeFeed
from rollsafe.server.service import Service
from rollsafe.server.settings import ServerSettings
from rollsafe.store.opening import open_store_url
from rollsafe.store.protocol import Store

log = logging.getLogger(__name__)

DESCRIPTION = """\
Feature flags with Unleash-compatible definitions, streamed to SDKs.

Authenticate with `Authorization: Bearer <token>`. Client tokens read
`/api/client/*`; admin tokens also read and write `/api/admin/*`. Tokens may be
bound to one environment. Errors are JSON: `{"error", "message", "problems"}`.
"""


MAX_BODY = 1024 * 1024
"""Bytes a request body may have (a flag definition is a few kilobytes)."""

StoreSource: TypeAlias = str | os.PathLike[str] | Callable[[], Store]
"""Where the flag service keeps its state: a ``postgresql://`` URL, a SQLite path (a
directory means its ``rollsafe.db``), or a factory opening a `Store`."""


class FlagServiceApp(FastAPI):
    """FastAPI, checking tokens first and serving SSE streams outside the middleware stack.

    The token is checked before routing, so a request without a valid one gets 401
    (or 403) whatever its body: FastAPI would read and parse the body first. Streams
    bypass the middleware stack (see `client.serve_stream`).
    """

    access_log: AccessLog | None = None
    """Set when the access log is on (`ServerSettings.access_log`)."""
    fast_routes = FastRoutes()
    """The hot routes served past FastAPI's routing (`rollsafe.server.fastpath`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        access_log = self.access_log
        if access_log is not None and scope["type"] == "http":
            await access_log.serve(self._serve, scope, receive, send)
        else:
            await self._serve(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        service = getattr(self.state, "service", None)
        needed = scope_needed(scope["path"]) if scope["type"] == "http" else None
        if needed is None or not isinstance(service, Service):
            await super().__call__(scope, receive, send)
            return
        try:
            caller = service.auth.caller(Request(scope), needed)
        except ApiError as error:
            await error.response()(scope, receive, send)
            return
        except RollsafeError as error:
            await store_unavailable(error)(scope, receive, send)
            return
        service.usage.count(caller.token, scope)
        scope[TOKEN_KEY] = caller.token.name
        fast = self.fast_routes.find(scope)
        if fast is not None:
            scope["app"] = self  # as Starlette sets it: request.app is the app
            await self.fast_routes.serve(fast[0], fast[1], service, caller, scope, receive, send)
        elif scope["path"] == STREAM_PATH and scope["method"] == "GET":
            await client.serve_stream(service, caller, scope, receive, send)
        elif scope["path"] == unleash_stream.STREAMING_PATH and scope["method"] == "GET":
            await unleash_stream.serve(service, caller, scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(store: StoreSource, settings: ServerSettings | None = None) -> FastAPI:
    """The flag service over a state store (see `StoreSource`; a SQLite file is created if missing).

    The app opens the store three times: one for writes, one for token checks on the
    event loop, one for the change feed's thread. Over PostgreSQL the feed also holds
    a LISTEN connection, so several replicas over one database stream each other's
    changes at once.
    """
    requested = settings or ServerSettings()
    open_store: Callable[[], Store] = (
        store if callable(store) else functools.partial(open_store_url, store)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = _afford(requested)
        with contextlib.ExitStack() as opened:
            # Three connections: writes may wait on another process's lock, and neither
            # token checks (event loop) nor the change feed (its thread) should wait with
            # them. Those opened are closed again when a later one fails (database down).
            writer, reader, feed_store = (
                opened.enter_context(contextlib.closing(open_store())) for _ in range(3)
            )
            auth = Authenticator(reader, settings.token_cache_ttl)
            # A token the feed finds revoked leaves the cache too: its streams' clients
            # reconnecting at once get 401, not a new stream from a stale verdict.
            feed = ChangeFeed(feed_store, settings, on_revoked=auth.drop)
            service = Service(writer, reader, feed, auth, settings)
            feed.start()
            app.state.service = service
            loop = asyncio.get_running_loop()
            previous_handler = loop.get_exception_handler()
            loop.set_exception_handler(
                AcceptErrors(previous_handler, lambda: f"{feed.stream_count} streams open")
            )
            # What exists now lives as long as the server: keep it out of the collector's
            # full passes, which otherwise stall every stream for tens of milliseconds.
            gc.collect()
            gc.freeze()
            try:
                yield
            finally:
                loop.set_exception_handler(previous_handler)
                await feed.stop()
                if isinstance(app, FlagServiceApp) and app.access_log is not None:
                    app.access_log.close()

    app = FlagServiceApp(
        title="rollsafe flag service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        max_body_size=MAX_BODY,
    )
    app.fast_routes = FastRoutes(
        [
            ("GET", "/api/client/features", client.features),
            ("POST", "/ofrep/v1/evaluate/flags", ofrep.evaluate_flags),
            ("POST", "/ofrep/v1/evaluate/flags/{key}", ofrep.evaluate_flag),
        ]
    )
    if requested.access_log is not None:
        app.access_log = AccessLog(requested.access_log)
    errors.install(app)
    openapi.install(app)
    app.include_router(admin.router)
    app.include_router(client.router)
    app.include_router(alert_receiver.router)
    app.include_router(rollouts_api.router)
    app.include_router(ui.router)
    app.include_router(unleash.router)
    app.include_router(ofrep.router)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, Any]:
        """Liveness, without a token; ``notifications`` as in ``/api/admin/status``."""
        service: Service = app.state.service
        return {
            "status": "ok",
            "revision": service.feed.revision,
            "notifications": service.feed.notifications,
        }

    return app


def _afford(settings: ServerSettings) -> ServerSettings:
    """``settings`` with no more streams than the open-file limit affords (see `descriptors`)."""
    open_files = open_file_limit()
    limit = stream_limit(settings.max_streams, open_files)
    if limit == settings.max_streams:
        return settings
    log.warning(
        "the open-file limit (ulimit -n %s) affords %d streams: serving at most %d, not %d;"
        " raise the limit for more",
        open_files, limit, limit, settings.max_streams,
    )  # fmt: skip
    return dataclasses.replace(settings, max_streams=limit)


def close_streams(app: Any) -> None:
    """End every open stream of ``app`` (before a server shutdown, so it is not held up)."""
    service = getattr(getattr(app, "state", None), "service", None)
    if isinstance(service, Service):
        service.feed.close_streams("server shutting down")
