"""SDK middleware: per-variant metrics and the variant header, for any ASGI or WSGI app.

Two lines in an application::

    from rollsafe.sdk.middleware import RollsafeMiddleware
    app.add_middleware(RollsafeMiddleware, client=flags)      # FastAPI, Starlette

    from rollsafe.sdk.middleware import RollsafeWSGIMiddleware
    app.wsgi_app = RollsafeWSGIMiddleware(app.wsgi_app, client=flags)  # Flask
    application = RollsafeWSGIMiddleware(get_wsgi_application())       # Django

For each HTTP request the middleware opens a notebook (`rollsafe.sdk.variants`),
so every flag the handler evaluates through the SDK is noted with its answer; then
it records the status and latency per flag variant (`rollsafe.sdk.requestmetrics`),
serves them at ``metrics_path`` (``GET``/``HEAD``, not counted), and sets
``variant_header`` on the response (``flag=variant`` pairs) so that a router in front
can split its own measurements by flag. Flags evaluated after the response has
started (a streamed body) are counted but cannot be in the header.

A handler that raises counts as a 500 (a request cancelled before it answered, as
499). Before the response has started, the
middleware answers that 500 itself, with the variant header, so the router sees
the failure on the right variant too; the ASGI middleware then re-raises (the
server logs it), the WSGI one logs it (WSGI has no way to both answer and raise).

``client`` (a `FlagClient` or `AsyncFlagClient`), when given, is started at the
ASGI lifespan's startup, or at the first request, and stopped at shutdown if the
middleware started it. Only plain ASGI/WSGI is used here: no web framework is imported.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any, Generic, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from rollsafe.sdk.base import ClientBase
from rollsafe.sdk.requestmetrics import DEFAULT_MAX_VARIANTS, RequestMetrics
from rollsafe.sdk.variants import header_value, noting

log = logging.getLogger("rollsafe.sdk")

VARIANT_HEADER = "X-Rollsafe-Variant"
METRICS_PATH = "/metrics"
RELEASE_VARIABLE = "ROLLSAFE_RELEASE"
"""Set by rollsafe's targets in each instance's environment: the release it runs."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
AppT = TypeVar("AppT")

_ERROR_BODY = b"Internal Server Error"
CLIENT_CLOSED = 499
"""Counted for a request cancelled before it answered (nginx's code for a client that
went away): not the service's failure, so not a 5xx."""


class _Middleware(Generic[AppT]):
    """What both middlewares share: the metrics, the header, the path and the client."""

    accepts_async_client = True

    def __init__(
        self,
        app: AppT,
        *,
        client: ClientBase | None = None,
        metrics_path: str | None = METRICS_PATH,
        variant_header: str = VARIANT_HEADER,
        release: str | None = None,
        max_variants: int = DEFAULT_MAX_VARIANTS,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if metrics_path is not None and not metrics_path.startswith("/"):
            raise ValueError(f"metrics_path must start with '/', got {metrics_path!r}")
        if not variant_header or not variant_header.isascii() or " " in variant_header:
            raise ValueError(f"variant_header must be an HTTP header name, got {variant_header!r}")
        if not self.accepts_async_client and inspect.iscoroutinefunction(
            getattr(client, "start", None)
        ):
            raise TypeError(f"{type(self).__name__} needs a FlagClient, not an AsyncFlagClient")
        self.app = app
        self.client = client
        self.metrics_path = metrics_path
        self.variant_header = variant_header
        if release is None:
            release = os.environ.get(RELEASE_VARIABLE) or None
        self.metrics = RequestMetrics(release=release, max_variants=max_variants, registry=registry)
        self._client_started = False
        self._lock = threading.Lock()

    def _serves_metrics(self, method: str, path: str) -> bool:
        return path == self.metrics_path and method in ("GET", "HEAD")

    def _client_to_start(self) -> Any:
        """The client, the first time this is called (the caller starts it); else None."""
        if self.client is None or self._client_started:
            return None
        with self._lock:
            if self._client_started:
                return None
            self._client_started = True
            return self.client

    def _client_to_stop(self) -> Any:
        """The client, if it was started here and not yet stopped (the caller stops it)."""
        with self._lock:
            if not self._client_started:
                return None
            self._client_started = False
            return self.client


class RollsafeMiddleware(_Middleware[ASGIApp]):
    """ASGI middleware (see the module docstring); ``metrics_path=None`` serves no metrics."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._lifespan_receive(receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self._start_client()
        if self._serves_metrics(scope.get("method", "GET"), scope.get("path", "")):
            await self._serve_metrics(scope, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False
        with noting() as notes:

            async def send_with_header(message: Message) -> None:
                nonlocal status, response_started
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    response_started = True
                    value = header_value(notes)
                    if value:
                        headers = list(message.get("headers", []))
                        name = self.variant_header.lower().encode("ascii")
                        headers.append((name, value.encode("ascii")))
                        message["headers"] = headers
                await send(message)

            try:
                await self.app(scope, receive, send_with_header)
            except Exception:
                status = 500
                if not response_started:
                    await self._answer_error(send_with_header)
                raise
            except BaseException:  # cancelled: the server dropped the request, no answer
                if not response_started:
                    status = CLIENT_CLOSED
                raise
            finally:
                self.metrics.record(notes, status, time.perf_counter() - started)

    async def _answer_error(self, send: Send) -> None:
        """Answer 500 for a handler that raised before answering (best effort)."""
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(_ERROR_BODY)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _ERROR_BODY})
        except Exception:  # the client may be gone; the original error is what matters
            log.debug("could not answer 500 after a failed request", exc_info=True)

    async def _serve_metrics(self, scope: Scope, send: Send) -> None:
        body = self.metrics.exposition()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", CONTENT_TYPE_LATEST.encode("latin-1")),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    def _lifespan_receive(self, receive: Receive) -> Receive:
        """Start the client when the app starts up, stop it when it shuts down."""

        async def lifespan_receive() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self._start_client()
            elif message["type"] == "lifespan.shutdown":
                await self._stop_client()
            return message

        return lifespan_receive

    async def _start_client(self) -> None:
        client = self._client_to_start()
        if client is not None:
            started = client.start()
            if inspect.isawaitable(started):  # AsyncFlagClient
                await started

    async def _stop_client(self) -> None:
        client = self._client_to_stop()
        if client is not None:
            stopped = client.aclose() if hasattr(client, "aclose") else client.stop()
            if inspect.isawaitable(stopped):
                await stopped


class RollsafeWSGIMiddleware(_Middleware[WSGIApp]):
    """WSGI middleware (see the module docstring); ``metrics_path=None`` serves no metrics."""

    accepts_async_client = False

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        self._start_client()
        method = environ.get("REQUEST_METHOD", "GET")
        if self._serves_metrics(method, environ.get("PATH_INFO", "")):
            exposition = self.metrics.exposition()
            start_response(
                "200 OK",
                [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(exposition)))],
            )
            return [b"" if method == "HEAD" else exposition]
        started = time.perf_counter()
        status = [500]
        with noting() as notes:

            def start_with_header(
                status_line: str, headers: list[tuple[str, str]], exc_info: Any = None
            ) -> Any:
                status[0] = _status_code(status_line)
                value = header_value(notes)
                if value:
                    headers = [*headers, (self.variant_header, value)]
                if exc_info is None:
                    return start_response(status_line, headers)
                return start_response(status_line, headers, exc_info)

            try:
                body = self.app(environ, start_with_header)
            except Exception:
                log.exception("%s %s failed", method, environ.get("PATH_INFO", ""))
                start_with_header(
                    "500 Internal Server Error",
                    [("Content-Type", "text/plain; charset=utf-8")],
                    sys.exc_info(),
                )
                self.metrics.record(notes, 500, time.perf_counter() - started)
                return [_ERROR_BODY]
        return _Recorded(body, self.metrics, notes, status, started)

    def _start_client(self) -> None:
        client = self._client_to_start()
        if client is not None:
            client.start()


class _Recorded:
    """A WSGI body that records the request when the server closes it (the end of the
    response, as WSGI defines it); an error while iterating counts as a 500."""

    def __init__(
        self,
        body: Iterable[bytes],
        metrics: RequestMetrics,
        notes: dict[str, str],
        status: list[int],
        started: float,
    ) -> None:
        self._body = body
        self._metrics = metrics
        self._notes = notes
        self._status = status
        self._started = started
        self._recorded = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except Exception:
            self._status[0] = 500
            raise

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            if not self._recorded:
                self._recorded = True
                elapsed = time.perf_counter() - self._started
                self._metrics.record(self._notes, self._status[0], elapsed)


def _status_code(status_line: str) -> int:
    try:
        return int(status_line.split(" ", 1)[0])
    except ValueError:
        return 0
