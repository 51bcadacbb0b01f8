"""The SSE response: starts a stream, then waits for its client to disconnect.

A raw ASGI response rather than a generator. After the first message the feed
writes each event to the stream itself (`fanout.Subscriber`), so the request's
own coroutine only waits in ``receive()``: that is the disconnect watch (a
closed stream is forgotten at once, not at the next heartbeat), with no task or
queue of its own per stream. The feed's watchdog cancels a write blocked for
longer than ``send_timeout`` seconds, so a client that stops reading is dropped
instead of holding memory.

The stream takes its slot (`ChangeFeed.subscribe`) only once it runs, inside the
``try`` whose ``finally`` gives it back: a request refused or failing before that
holds none, and none outlives its stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from rollsafe.server.errors import ApiError
from rollsafe.server.feed import ChangeFeed, StreamLimitError
from rollsafe.store.records import TokenRecord

RETRY_AFTER = 5
"""Seconds a client refused for lack of stream slots is asked to wait."""


def too_many_streams(error: StreamLimitError) -> ApiError:
    """The 503 for a stream beyond the limit; the connection is closed, freeing its socket."""
    return ApiError(
        503,
        "too_many_streams",
        str(error),
        headers={"Retry-After": str(RETRY_AFTER), "Connection": "close"},
    )


class EventStream(Response):
    media_type = "text/event-stream"

    def __init__(
        self,
        feed: ChangeFeed,
        environment: str,
        last_event_id: str | None,
        token: TokenRecord | None,
        *,
        heartbeat: float,
    ) -> None:
        # No Response.__init__: it would declare a Content-Length for an empty body.
        self.status_code = 200
        self.background = None
        self.raw_headers = _headers(heartbeat)
        self._feed = feed
        self._environment = environment
        self._last_event_id = last_event_id
        self._token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            subscriber, first = self._feed.subscribe(
                self._environment, self._last_event_id, self._token
            )
        except StreamLimitError as error:  # filled up since the route checked
            await too_many_streams(error).response()(scope, receive, send)
            return
        task = subscriber.task = asyncio.current_task()
        completed = True
        try:
            # The feed's watchdog cancels a write blocked longer than send_timeout
            # (cheaper than a timeout context per message, times every stream).
            subscriber.sending_since = asyncio.get_running_loop().time()
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await send({"type": "http.response.body", "body": first, "more_body": True})
            subscriber.sending_since = 0.0
            subscriber.start(send)
            # From here on the feed writes to the stream; this coroutine only waits in
            # receive() for the disconnect (one frame less per stream than a helper).
            # Subscriber.close wakes it by cancelling it, a cancellation taken back here.
            while not subscriber.closed:
                subscriber.parked = True
                try:
                    message = await receive()
                except asyncio.CancelledError:
                    if not subscriber.waking or task is None or task.uncancel():
                        raise
                    subscriber.waking = False
                    continue
                finally:
                    subscriber.parked = False
                if message["type"] == "http.disconnect":
                    subscriber.close("disconnected")
            if subscriber.writing is not None:  # let a write under way end (or time out)
                await asyncio.wait([subscriber.writing])
        except asyncio.CancelledError:
            if not subscriber.stalled or task is None or task.uncancel():
                raise
            # Dropped as too slow: give up on it (uvicorn closes the connection).
            completed = False
        finally:
            self._feed.unsubscribe(subscriber)
            if subscriber.writing is not None:
                subscriber.writing.cancel()
        if completed and not subscriber.stalled and subscriber.reason != "disconnected":
            with contextlib.suppress(OSError):
                comment = f": closed: {subscriber.reason}\n\n".encode()
                await send({"type": "http.response.body", "body": comment, "more_body": False})


@functools.cache
def _headers(heartbeat: float) -> list[tuple[bytes, bytes]]:
    """The response headers, one list shared by every stream (none is ever changed)."""
    return [
        (b"content-type", b"text/event-stream; charset=utf-8"),
        (b"cache-control", b"no-cache"),
        (b"x-accel-buffering", b"no"),
        (b"x-rollsafe-heartbeat", f"{heartbeat:g}".encode()),
    ]
