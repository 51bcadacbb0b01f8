"""``/api/client``: the whole flag state for SDKs (with an ETag) and its stream of changes.

``GET /api/client/features`` answers an Unleash ``/api/client/features``
document (plus ``meta.revision``), or 304 when ``If-None-Match`` matches.
``GET /api/client/stream`` is a Server-Sent Events stream: first
``unleash-connected`` (the whole state as a delta-API hydration event, or, when
``Last-Event-ID`` names a revision, the changes since), then ``unleash-updated``
per change, comment heartbeats in between. Event data are Unleash delta API
documents, which `rollsafe.flags.Engine.apply_delta` reads as they are.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from starlette.types import Receive, Scope, Send

from rollsafe.errors import RollsafeError
from rollsafe.server import unleash_views
from rollsafe.server.admin import ERRORS, NOT_FOUND
from rollsafe.server.auth import Caller
from rollsafe.server.errors import ApiError, store_unavailable
from rollsafe.server.feed import StreamLimitError
from rollsafe.server.models import ErrorBody
from rollsafe.server.service import ClientCaller, Service, ServiceDep
from rollsafe.server.streams import EventStream, too_many_streams

router = APIRouter(prefix="/api/client", tags=["client"], responses=ERRORS)

Environment = Annotated[
    str | None, Query(description="Defaults to the token's environment, else 'default'.")
]


@router.get(
    "/features",
    responses={
        200: {"description": "An Unleash /api/client/features document with meta.revision"},
        304: {"description": "Unchanged since the ETag sent in If-None-Match"},
        **NOT_FOUND,
        400: {"model": ErrorBody, "description": "A malformed filter (tag=type:value)"},
    },
)
async def features(
    caller: ClientCaller,
    service: ServiceDep,
    environment: Environment = None,
    if_none_match: Annotated[str | None, Header()] = None,
    project: Annotated[list[str] | None, Query()] = None,
    name_prefix: Annotated[str | None, Query(alias="namePrefix")] = None,
    tag: Annotated[list[str] | None, Query(description="type:value")] = None,
    unleash_client_spec: Annotated[str | None, Header()] = None,
) -> Response:
    """Filtered by ``project``, ``namePrefix`` and ``tag`` as Unleash does (`unleash_views`)."""
    env = caller.environment(environment)
    _check_environment(service, env)
    state = service.feed.state(env)
    if project is None and name_prefix is None and tag is None:
        filters = NO_FILTERS  # the common case: no parsing, no digest
    else:
        filters = unleash_views.filters_of(project or [], name_prefix, tag or [])
    etag = state.etag() if filters.empty else f'"{env}:{state.revision}:{filters.key()}"'
    if if_none_match is not None and (if_none_match == etag or _matches(if_none_match, etag)):
        return NotModified(etag)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if filters.empty:
        body = state.document()
    else:
        body = unleash_views.document(state, filters, unleash_client_spec)
    return Response(body, media_type="application/json", headers=headers)


@router.get(
    "/stream",
    response_class=EventStream,
    status_code=200,
    name="stream",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"},
        503: {
            "model": ErrorBody,
            "description": "Too many open streams (Retry-After), or the store is unavailable",
        },
        **NOT_FOUND,
    },
)
async def stream(
    caller: ClientCaller,
    service: ServiceDep,
    environment: Environment = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Any:
    """Server-Sent Events (see the module docstring); resume with ``Last-Event-ID``."""
    return open_stream(service, caller, environment, last_event_id)


def open_stream(
    service: Service, caller: Caller, environment: str | None, last_event_id: str | None
) -> EventStream:
    """The stream's response, after the checks that can refuse it (404, 503).

    It takes a stream slot only when it runs (see `rollsafe.server.streams`).
    """
    env = caller.environment(environment)
    _check_environment(service, env)
    try:
        service.feed.check_capacity()
    except StreamLimitError as error:
        raise too_many_streams(error) from None
    return EventStream(
        service.feed, env, last_event_id, caller.token, heartbeat=service.settings.heartbeat
    )


def serve_stream(
    service: Service, caller: Caller, scope: Scope, receive: Receive, send: Send
) -> Awaitable[None]:
    """The stream endpoint as a bare ASGI app, outside the middleware stack.

    Every message to every open stream would otherwise cross five middleware
    wrappers; with a thousand streams per change that is most of the fan-out
    time. Same checks and errors as the documented route (`stream`); the app has
    checked the token's scope (``caller``). Not a coroutine itself: it returns the
    response's, so an open stream holds no frame of this function (nor its request).
    """
    request = Request(scope)
    try:
        response: Response = open_stream(
            service,
            caller,
            request.query_params.get("environment"),
            request.headers.get("last-event-id"),
        )
    except ApiError as error:
        response = error.response()
    except RollsafeError as error:
        response = store_unavailable(error)
    return response(scope, receive, send)


NO_FILTERS = unleash_views.Filters()


class NotModified(Response):
    """304 with its ETag, its two headers built directly (the hot answer to polling SDKs).

    Starlette's constructor renders a body, sorts out media type and content length,
    and lower-cases a header dict: a third of this route's own CPU per 304. The
    answer is the same (a test compares both).
    """

    def __init__(self, etag: str) -> None:
        self.status_code = 304
        self.body = b""
        self.background = None
        self.raw_headers = [(b"etag", etag.encode("latin-1")), (b"cache-control", b"no-cache")]


def _check_environment(service: ServiceDep, environment: str) -> None:
    if not service.environment_exists(environment):
        raise ApiError(404, "not_found", f"no environment {environment!r}")


def _matches(header: str, etag: str) -> bool:
    candidates = [part.strip().removeprefix("W/") for part in header.split(",")]
    return "*" in candidates or etag in candidates
