"""The SSE response: writes a subscriber's messages as they come, with bounded waiting.

A raw ASGI response rather than a generator: it watches for the client
disconnecting (so a closed stream is forgotten at once, not at the next
heartbeat), and the feed's watchdog cancels a write blocked for longer than
``send_timeout`` seconds, so a client that stops reading is dropped instead of
holding memory.

The stream takes its slot (`ChangeFeed.subscribe`) only once it runs, inside the
``try`` whose ``finally`` gives it back: a request refused or failing before that
holds none, and none outlives its stream.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from rollsafe.server.errors import ApiError
from rollsafe.server.fanout import Subscriber
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
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
            (b"x-rollsafe-heartbeat", f"{heartbeat:g}".encode()),
        ]
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
        subscriber.task = asyncio.current_task()
        clock = asyncio.get_running_loop().time
        watcher = asyncio.ensure_future(_watch_disconnect(receive, subscriber))
        completed = True
        try:
            # The feed's watchdog cancels a write blocked longer than send_timeout
            # (cheaper than a timeout context per message, times every stream).
            subscriber.sending_since = clock()
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await send({"type": "http.response.body", "body": first, "more_body": True})
            subscriber.sending_since = 0.0
            while True:
                if subscriber.pending:
                    chunk = b"".join(subscriber.pending)
                    subscriber.pending.clear()
                    subscriber.sending_since = clock()
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    subscriber.sending_since = 0.0
                    continue
                if subscriber.closed:
                    break
                subscriber.wake.clear()
                await subscriber.wake.wait()
        except asyncio.CancelledError:
            if not subscriber.stalled:
                raise
            # Dropped as too slow: give up on it (uvicorn closes the connection).
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            completed = False
        finally:
            self._feed.unsubscribe(subscriber)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if completed and subscriber.reason != "disconnected":
            with contextlib.suppress(OSError):
                comment = f": closed: {subscriber.reason}\n\n".encode()
                await send({"type": "http.response.body", "body": comment, "more_body": False})


async def _watch_disconnect(receive: Receive, subscriber: Subscriber) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            subscriber.close("disconnected")
            return
