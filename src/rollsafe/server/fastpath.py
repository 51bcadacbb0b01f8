"""The hottest routes, served without FastAPI's routing and dependency injection.

``GET /api/client/features`` and the OFREP evaluations are most of a flag
service's traffic. Through FastAPI each crosses its middleware stack, a walk
over every route and a dependency solver that costs several times the work of
the answer itself. Here the app, which has already checked the token, calls the
route's own endpoint function directly with the arguments it takes, so the
answers (and their errors) are the documented route's, not a copy of it.

A route is served here only when every parameter of its endpoint is one this
module knows how to fill (`KNOWN`); an endpoint that gains another (a new query
parameter, say) drops out at start-up and FastAPI serves it again, correct if
slower. Anything else raised by an endpoint goes to the server, as from FastAPI.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request, Response
from starlette.types import Receive, Scope, Send

from rollsafe.errors import RollsafeError
from rollsafe.server.auth import Caller
from rollsafe.server.errors import ApiError, error_response
from rollsafe.server.service import Service

log = logging.getLogger(__name__)

Endpoint = Callable[..., Awaitable[Response]]

_QUERY_LISTS = {"project": "project", "tag": "tag"}
_QUERY_VALUES = {"environment": "environment", "name_prefix": "namePrefix"}
_HEADERS = {"if_none_match": b"if-none-match", "unleash_client_spec": b"unleash-client-spec"}
KNOWN = frozenset({"caller", "service", "request", "key", *_QUERY_LISTS, *_QUERY_VALUES, *_HEADERS})
"""Endpoint parameters this module fills: the caller and service, the raw request, a
``{key}`` path parameter, the query parameters and headers named above (all strings)."""


@dataclass(frozen=True)
class FastRoute:
    method: str
    path: str
    """Exact, or ending in ``/{key}`` (one path segment)."""
    endpoint: Endpoint
    parameters: frozenset[str]

    # What `FastRoutes.serve` fills, worked out once per route rather than per request.
    query_values: tuple[tuple[str, str], ...] = ()
    """(parameter, query name) of the single-valued query parameters it takes."""
    query_lists: tuple[tuple[str, str], ...] = ()
    """(parameter, query name) of the repeatable query parameters it takes."""
    headers: tuple[tuple[str, bytes], ...] = ()
    """(parameter, lower-case header name) of the headers it takes."""

    @classmethod
    def of(
        cls, method: str, path: str, endpoint: Endpoint, parameters: frozenset[str]
    ) -> FastRoute:
        def taken(names: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
            return tuple((p, name) for p, name in names.items() if p in parameters)

        return cls(
            method,
            path,
            endpoint,
            parameters,
            taken(_QUERY_VALUES),
            taken(_QUERY_LISTS),
            taken(_HEADERS),
        )


class FastRoutes:
    """The routes served here, found by method and path."""

    def __init__(self, routes: Iterable[tuple[str, str, Endpoint]] = ()) -> None:
        self._exact: dict[tuple[str, str], FastRoute] = {}
        self._keyed: dict[tuple[str, str], FastRoute] = {}
        for method, path, endpoint in routes:
            parameters = frozenset(inspect.signature(endpoint).parameters)
            unknown = parameters - KNOWN
            if unknown:
                log.debug("%s %s: FastAPI serves it (parameters %s)", method, path, unknown)
                continue
            route = FastRoute.of(method, path, endpoint, parameters)
            if path.endswith("/{key}"):
                self._keyed[(method, path.removesuffix("{key}"))] = route
            else:
                self._exact[(method, path)] = route

    def __len__(self) -> int:
        return len(self._exact) + len(self._keyed)

    def find(self, scope: Scope) -> tuple[FastRoute, str] | None:
        """The route for this request and its ``{key}`` ("" for exact routes), or None."""
        method, path = scope["method"], scope["path"]
        route = self._exact.get((method, path))
        if route is not None:
            return route, ""
        prefix, slash, key = path.rpartition("/")
        if slash and key:
            route = self._keyed.get((method, prefix + "/"))
            if route is not None:
                return route, key
        return None

    @staticmethod
    async def serve(
        route: FastRoute,
        key: str,
        service: Service,
        caller: Caller,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        arguments: dict[str, Any] = {}
        wanted = route.parameters
        if "caller" in wanted:
            arguments["caller"] = caller
        if "service" in wanted:
            arguments["service"] = service
        if "request" in wanted:
            arguments["request"] = Request(scope, receive)
        if "key" in wanted:
            arguments["key"] = key
        if route.query_values or route.query_lists:
            query = scope.get("query_string", b"")
            pairs = parse_qsl(query.decode("latin-1")) if query else []
            for parameter, name in route.query_values:
                arguments[parameter] = next((v for k, v in reversed(pairs) if k == name), None)
            for parameter, name in route.query_lists:
                arguments[parameter] = [v for k, v in pairs if k == name] or None
        for parameter, header in route.headers:
            arguments[parameter] = _header(scope, header)
        try:
            response = await route.endpoint(**arguments)
        except ApiError as error:
            response = error.response()
        except RollsafeError as error:  # as rollsafe.server.errors answers it for FastAPI
            response = error_response(error.status, error.code, str(error))
        await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None
