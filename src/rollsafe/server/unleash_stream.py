"""``/api/client/streaming``: Unleash's SSE endpoint, as the Node, Go and Python SDKs open it.

The same stream as ``/api/client/stream`` (`rollsafe.server.client`): first
``unleash-connected`` with a delta document (a hydration event, or the changes
since ``Last-Event-ID``), then ``unleash-updated`` per change. When this server
has no stream slot left it does not answer 503 as ``/api/client/stream`` does:
it sends one ``fetch-mode`` event with data ``polling`` and ends the stream, the
signal on which Unleash SDKs that switch modes go back to polling
``/api/client/features`` instead of reconnecting again and again.
"""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from rollsafe.errors import RollsafeError
from rollsafe.server.auth import Caller
from rollsafe.server.client import open_stream
from rollsafe.server.errors import ApiError, store_unavailable
from rollsafe.server.service import Service

STREAMING_PATH = "/api/client/streaming"
FETCH_MODE_POLLING = b"event: fetch-mode\ndata: polling\n\n"


def polling_response() -> Response:
    """A stream of one ``fetch-mode: polling`` event, then the end."""
    return Response(
        FETCH_MODE_POLLING,
        status_code=200,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def serve(
    service: Service, caller: Caller, scope: Scope, receive: Receive, send: Send
) -> Awaitable[None]:
    """The endpoint as a bare ASGI app (like ``client.serve_stream``, not a coroutine
    itself; the token is checked)."""
    request = Request(scope)
    response: Response
    try:
        response = open_stream(
            service,
            caller,
            request.query_params.get("environment"),
            request.headers.get("last-event-id"),
        )
    except ApiError as error:
        response = polling_response() if error.code == "too_many_streams" else error.response()
    except RollsafeError as error:
        response = store_unavailable(error)
    return response(scope, receive, send)
