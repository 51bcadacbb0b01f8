"""The rest of Unleash's client API, as official SDKs call it, and the usage they report.

- ``POST /api/client/register``: an SDK instance says who it is (202).
- ``POST /api/client/metrics``: yes/no and variant counts per toggle for one
  time bucket, and impact metrics (counters, gauges, histograms); 202, or 400
  naming the field (`rollsafe.server.unleash_payloads`).
- ``GET /api/client/delta``: Unleash's delta API (`rollsafe.server.unleash_views`).
- ``GET /api/client/features/{name}``: one flag.
- ``GET /api/admin/metrics/flags/{name}``: what SDKs reported about a flag.
- ``GET /api/admin/metrics/impact``: the impact metrics of an environment.

The streaming endpoint, ``/api/client/streaming``, is `rollsafe.server.unleash_stream`.
Same tokens as the rest of ``/api/client``: a client token, bound to an
environment or not.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from rollsafe.server import unleash_bulk
from rollsafe.server import unleash_payloads as payloads
from rollsafe.server import unleash_views as views
from rollsafe.server.admin import ERRORS, INVALID, NOT_FOUND
from rollsafe.server.auth import Caller
from rollsafe.server.client import open_stream
from rollsafe.server.errors import ApiError
from rollsafe.server.models import ErrorBody
from rollsafe.server.service import AdminCaller, ClientCaller, Service, ServiceDep
from rollsafe.server.streams import EventStream
from rollsafe.server.unleash_stream import polling_response
from rollsafe.store.usage import summarize_impact

MAX_BODY = 1024 * 1024
"""Bytes an SDK's register or metrics body may have."""

router = APIRouter(tags=["client"])

Environment = Annotated[
    str | None, Query(description="Defaults to the token's environment, else 'default'.")
]
ACCEPTED: dict[int | str, dict[str, Any]] = {
    # No 403: the environment is the token's (a token for all may name one in the body).
    401: ERRORS[401],
    503: ERRORS[503],
    202: {"description": "Accepted"},
    400: {"model": ErrorBody, "description": "Malformed body; problems name the field"},
    413: {"model": ErrorBody, "description": "The body is larger than 1 MiB"},
}
BAD_FILTER: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "A malformed filter (tag=type:value)"}
}
SINCE = Annotated[
    float, Query(ge=0, description="Only windows starting at or after this epoch second.")
]


@router.post("/api/client/register", status_code=202, responses=ACCEPTED)
async def register(request: Request, caller: ClientCaller, service: ServiceDep) -> Response:
    """Record an SDK instance: app name, instance id, SDK version, strategies, start time."""
    body = payloads.parse_json(await _body(request))
    environment = _environment(service, caller, body)
    app = payloads.registration(body, environment=environment, token_name=caller.token.name)
    await run_in_threadpool(service.store.register_application, app)
    return Response(status_code=202)


@router.post("/api/client/metrics", status_code=202, responses=ACCEPTED)
async def metrics(request: Request, caller: ClientCaller, service: ServiceDep) -> Response:
    """Record one bucket of toggle counts and the impact metrics sent with it."""
    body = payloads.parse_json(await _body(request))
    environment = _environment(service, caller, body)
    report = payloads.metrics_report(
        body, environment=environment, token_name=caller.token.name, now=time.time()
    )
    await run_in_threadpool(service.store.record_client_metrics, report)
    return Response(status_code=202)


@router.post("/api/client/metrics/bulk", status_code=202, responses=ACCEPTED)
async def bulk_metrics(request: Request, caller: ClientCaller, service: ServiceDep) -> Response:
    """Registrations and toggle counts of many applications (as Unleash Edge forwards them)."""
    body = payloads.parse_json(await _body(request))
    bulk = unleash_bulk.parse(
        body,
        environment_of=lambda item: _environment(service, caller, item),
        token_name=caller.token.name,
        now=time.time(),
    )

    def store() -> None:
        for registration in bulk.registrations:
            service.store.register_application(registration)
        for report in bulk.reports:
            service.store.record_client_metrics(report)

    await run_in_threadpool(store)
    return Response(status_code=202)


@router.get(
    "/api/client/delta",
    responses={
        200: {"description": "An Unleash delta document: hydration, or the events since"},
        304: {"description": "Nothing changed since the revision in If-None-Match"},
        **ERRORS,
        **NOT_FOUND,
        **BAD_FILTER,
    },
)
async def delta(
    caller: ClientCaller,
    service: ServiceDep,
    environment: Environment = None,
    project: Annotated[list[str] | None, Query()] = None,
    name_prefix: Annotated[str | None, Query(alias="namePrefix")] = None,
    tag: Annotated[list[str] | None, Query()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    env = _existing(service, caller.environment(environment))
    filters = views.filters_of(project or [], name_prefix, tag or [])
    state = service.feed.state(env)
    document = views.delta(state, views.held_revision(if_none_match), filters)
    headers = {"ETag": f'"{state.revision}"', "Cache-Control": "no-cache"}
    if document is None:
        return Response(status_code=304, headers=headers)
    return _json(document, headers)


@router.get("/api/client/features/{name}", responses={**ERRORS, **NOT_FOUND})
async def one_feature(
    name: str, caller: ClientCaller, service: ServiceDep, environment: Environment = None
) -> Response:
    env = _existing(service, caller.environment(environment))
    return _json(views.feature(service.feed.state(env), name), {"Cache-Control": "no-cache"})


@router.get(
    "/api/admin/metrics/flags/{name}", tags=["admin"], responses={**ERRORS, **NOT_FOUND, **INVALID}
)
def flag_metrics(
    name: str,
    caller: AdminCaller,
    service: ServiceDep,
    environment: Environment = None,
    since: SINCE = 0.0,
) -> Any:
    """Yes/no and variant counts SDKs reported for ``name``, and impact metrics labelled by it."""
    env = _existing(service, caller.environment(environment))
    usage = service.store.flag_usage(name, env, since=since)
    return {"flag": name, "environment": env, **usage.as_json()}


@router.get(
    "/api/admin/metrics/impact", tags=["admin"], responses={**ERRORS, **NOT_FOUND, **INVALID}
)
def impact_metrics(
    caller: AdminCaller,
    service: ServiceDep,
    environment: Environment = None,
    metric: Annotated[str | None, Query(description="Only this metric.")] = None,
    flag: Annotated[str | None, Query(description="Only series labelled by this flag.")] = None,
    since: SINCE = 0.0,
) -> Any:
    """Impact metrics SDKs sent, summed per series (name and labels) over the stored windows."""
    env = _existing(service, caller.environment(environment))
    windows = service.store.impact_windows(env, flag=flag, metric=metric, since=since)
    return {"environment": env, "metrics": summarize_impact(windows)}


async def _body(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError(413, "too_large", f"body: larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _environment(service: Service, caller: Caller, body: dict[str, Any]) -> str:
    """The token's environment; a token for all takes the body's (deprecated SDK field)."""
    asked = body.get("environment") if caller.token.environment == "*" else None
    if asked is not None and not isinstance(asked, str):
        raise ApiError(
            400,
            "invalid_request",
            "environment: must be a string",
            problems=[{"field": "environment", "message": "must be a string"}],
        )
    env = caller.environment(asked or None)
    if not service.environment_exists(env):
        if asked:
            message = f"no environment {env!r}"
            raise ApiError(
                400,
                "invalid_request",
                f"environment: {message}",
                problems=[{"field": "environment", "message": message}],
            )
        raise ApiError(404, "not_found", f"no environment {env!r}")
    return env


def _existing(service: Service, environment: str) -> str:
    if not service.environment_exists(environment):
        raise ApiError(404, "not_found", f"no environment {environment!r}")
    return environment


def _json(document: Any, headers: dict[str, str]) -> Response:
    body = json.dumps(document, separators=(",", ":")).encode()
    return Response(body, media_type="application/json", headers=headers)


@router.get(
    "/api/client/streaming",
    response_class=EventStream,
    status_code=200,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "unleash-connected, then unleash-updated per change; or one"
            " fetch-mode event (data: polling) when no stream slot is left",
        },
        **ERRORS,
        **NOT_FOUND,
    },
)
async def streaming(
    caller: ClientCaller,
    service: ServiceDep,
    environment: Environment = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Any:
    """Unleash's SSE endpoint (served outside the middleware; see `unleash_stream`)."""
    try:
        return open_stream(service, caller, environment, last_event_id)
    except ApiError as error:
        if error.code == "too_many_streams":
            return polling_response()
        raise
