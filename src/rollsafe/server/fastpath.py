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
            route = FastRoute(method, path, endpoint, parameters)
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
        if wanted & (_QUERY_LISTS.keys() | _QUERY_VALUES.keys()):
            query = scope.get("query_string", b"")
            pairs = parse_qsl(query.decode("latin-1")) if query else []
            for parameter, name in _QUERY_VALUES.items():
                if parameter in wanted:
                    arguments[parameter] = next((v for k, v in reversed(pairs) if k == name), None)
            for parameter, name in _QUERY_LISTS.items():
                if parameter in wanted:
                    arguments[parameter] = [v for k, v in pairs if k == name] or None
        for parameter, header in _HEADERS.items():
            if parameter in wanted:
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
