"""``/ofrep/v1``: the OpenFeature Remote Evaluation Protocol, for any OpenFeature SDK.

``POST /ofrep/v1/evaluate/flags/{key}`` resolves one flag for the request's
``context``; ``POST /ofrep/v1/evaluate/flags`` resolves every flag of the
environment, with an ``ETag`` (a digest of the answer) that a client sends back
in ``If-None-Match`` to get 304 while nothing it would see changed.
``GET /ofrep/v1/configuration`` tells providers what this server supports.

Flags resolve as `rollsafe.flags.resolution` describes: types from variant
payloads, OpenFeature reasons, and the error codes ``FLAG_NOT_FOUND`` (404),
``PARSE_ERROR``, ``TYPE_MISMATCH``, ``INVALID_CONTEXT`` and
``TARGETING_KEY_MISSING`` (400). The token is the one the client API takes
(client scope), as ``Authorization: Bearer`` or OFREP's ``X-API-Key``; the
environment is the token's, or ``?environment=`` for a token of all environments.

Resolvers are built once per environment and flag revision, on the event loop,
from the change feed's state: an evaluation reads no store.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from starlette.requests import ClientDisconnect

from rollsafe.flags.contexts import Context
from rollsafe.flags.resolution import (
    NO_VALUE,
    ContextError,
    ErrorCode,
    Resolution,
    Resolver,
    context_of,
)
from rollsafe.server.admin import ERRORS
from rollsafe.server.errors import ApiError
from rollsafe.server.fanout import EnvironmentState
from rollsafe.server.service import ClientCaller, Service, ServiceDep

router = APIRouter(prefix="/ofrep/v1", tags=["ofrep"])

MAX_CONTEXT_BYTES = 64 * 1024
"""Bytes an evaluation request's body may have."""

MIN_POLLING_MS = 1000
"""What ``/configuration`` tells static-context providers about polling the bulk endpoint."""

_JSON = "application/json"
_STATUS = {ErrorCode.FLAG_NOT_FOUND: 404, ErrorCode.GENERAL: 500}

Environment = Annotated[
    str | None, Query(description="Defaults to the token's environment, else 'default'.")
]

_EVALUATION_REQUEST = {
    "content": {
        _JSON: {
            "schema": {
                "type": "object",
                "properties": {
                    "context": {
                        "type": "object",
                        "description": "OpenFeature evaluation context: targetingKey "
                        "(the Unleash userId) and flat attributes.",
                    }
                },
            }
        }
    }
}


@dataclass(frozen=True, slots=True)
class Evaluator:
    """An environment's resolver at one revision, with what no context changes pre-encoded."""

    state: EnvironmentState
    revision: int
    resolver: Resolver
    head: bytes
    """The bulk answer up to its first context-dependent item: the items of the flags
    whose resolution is constant, in document order."""
    head_digest: Any
    """The ETag's digest (`etag_digest`) fed ``head``: each answer's copies it."""
    dynamic: tuple[Callable[[Context, frozenset[str] | None], bytes], ...]
    """The other flags' encoded bulk items for a context (`Resolver.answers`), in document
    order. Key, reason, variant and error code determine an item, and most flags can
    only give a few: those are encoded when the evaluator is built; the rest once each
    when first seen (bounded by the flags' variants times the reasons)."""

    @classmethod
    def of(cls, state: EnvironmentState) -> Evaluator:
        resolver = Resolver.from_features(state.features())
        constants, dynamic = [], []
        encoded: dict[tuple[str, str, str, str | None], bytes] = {}

        def encode(resolution: Resolution) -> bytes:
            identity = (
                resolution.key,
                resolution.reason,
                resolution.variant,
                resolution.error_code,
            )
            part = encoded.get(identity)
            if part is None:
                part = encoded[identity] = _encode(_item(resolution))
            return part

        for key in resolver.flag_keys():
            constant = resolver.constant(key)
            if constant is None:
                dynamic.append(resolver.answers(key, encode))
            else:
                constants.append(_item(constant))
        head = b'{"flags":[' + _encode(constants)[1:-1]
        if constants and dynamic:
            head += b","
        digest = etag_digest()
        digest.update(head)
        return cls(state, state.revision, resolver, head, digest, tuple(dynamic))

    def answer(self, context: Context) -> tuple[bytes, str]:
        """The bulk answer and its ETag: constant flags first, then the others, each group
        in document order (the same order for the same flags, so equal answers have
        equal ETags). The ETag is a digest of the answer's bytes; the head's part of it
        is computed once."""
        present = self.resolver.keys_present(context)
        tail = b",".join([answer(context, present) for answer in self.dynamic]) + b"]}"
        digest = self.head_digest.copy()
        digest.update(tail)
        return self.head + tail, f'"{digest.hexdigest()}"'


def etag_digest() -> Any:
    """The bulk answer's ETag is this digest of its bytes, in hex and quoted."""
    return hashlib.blake2b(digest_size=12)


class Evaluators:
    """One `Evaluator` per environment, rebuilt when the environment's flags changed."""

    def __init__(self) -> None:
        self._cache: dict[str, Evaluator] = {}

    def of(self, state: EnvironmentState) -> Evaluator:
        cached = self._cache.get(state.name)
        if cached is None or cached.state is not state or cached.revision != state.revision:
            cached = self._cache[state.name] = Evaluator.of(state)
        return cached


def _evaluators(request: Request) -> Evaluators:
    evaluators = getattr(request.app.state, "ofrep_evaluators", None)
    if not isinstance(evaluators, Evaluators):
        evaluators = request.app.state.ofrep_evaluators = Evaluators()
    return evaluators


@router.post(
    "/evaluate/flags/{key}",
    openapi_extra={"requestBody": _EVALUATION_REQUEST},
    responses={
        **ERRORS,
        200: {"description": "key, value (absent: use the code default), reason, variant"},
        400: {
            "description": "errorCode PARSE_ERROR, INVALID_CONTEXT, TYPE_MISMATCH or "
            "TARGETING_KEY_MISSING, with errorDetails"
        },
        404: {"description": "errorCode FLAG_NOT_FOUND (or no such environment)"},
    },
)
async def evaluate_flag(
    key: str,
    request: Request,
    caller: ClientCaller,
    service: ServiceDep,
    environment: Environment = None,
) -> Response:
    """Resolve flag ``key`` for the ``context`` in the body."""
    state = _state(service, caller.environment(environment))
    try:
        context = context_of(await _context(request))
    except _BadRequestError as error:
        return _failure(error.code, error.details, key=key)
    except ContextError as error:
        return _failure(ErrorCode.INVALID_CONTEXT, str(error), key=key)
    resolution = _evaluators(request).of(state).resolver.resolve(key, context)
    if resolution.error_code is not None:
        return _failure(resolution.error_code, resolution.error_details, key=key)
    return Response(json.dumps(_success(resolution), separators=(",", ":")), media_type=_JSON)


@router.post(
    "/evaluate/flags",
    openapi_extra={"requestBody": _EVALUATION_REQUEST},
    responses={
        **ERRORS,
        200: {"description": "flags: one result (or per-flag error) per flag; ETag"},
        304: {"description": "Unchanged since the ETag sent in If-None-Match"},
        400: {"description": "errorCode PARSE_ERROR or INVALID_CONTEXT, with errorDetails"},
        404: {"description": "No such environment"},
    },
)
async def evaluate_flags(
    request: Request,
    caller: ClientCaller,
    service: ServiceDep,
    environment: Environment = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Resolve every flag of the environment for the ``context`` in the body."""
    state = _state(service, caller.environment(environment))
    try:
        context = context_of(await _context(request))
    except _BadRequestError as error:
        return _failure(error.code, error.details)
    except ContextError as error:
        return _failure(ErrorCode.INVALID_CONTEXT, str(error))
    body, etag = _evaluators(request).of(state).answer(context)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if if_none_match is not None and _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=_JSON, headers=headers)


@router.get(
    "/configuration",
    responses={
        200: {"description": "name and capabilities"},
        401: ERRORS[401],
        503: ERRORS[503],
    },
)
async def configuration(caller: ClientCaller) -> dict[str, Any]:
    """What OFREP providers may use: polling of the bulk endpoint, every flag type."""
    del caller
    return {
        "name": "rollsafe",
        "capabilities": {
            "cacheInvalidation": {
                "polling": {"enabled": True, "minPollingIntervalMs": MIN_POLLING_MS}
            },
            "flagEvaluation": {"supportedTypes": ["boolean", "string", "int", "float", "object"]},
        },
    }


class _BadRequestError(Exception):
    def __init__(self, code: ErrorCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


async def _context(request: Request) -> object:
    """The body's ``context`` (None when the body is empty); `_BadRequestError` if unusable."""
    try:
        body = await request.body()
    except ClientDisconnect:  # gone before its body came: nobody reads the answer
        raise _BadRequestError(ErrorCode.GENERAL, "the client disconnected") from None
    if not body.strip():
        return None
    if len(body) > MAX_CONTEXT_BYTES:
        too_large = f"body: larger than {MAX_CONTEXT_BYTES} bytes"
        raise _BadRequestError(ErrorCode.INVALID_CONTEXT, too_large)
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise _BadRequestError(ErrorCode.PARSE_ERROR, "body: not UTF-8 JSON") from None
    if not isinstance(document, dict):
        raise _BadRequestError(ErrorCode.PARSE_ERROR, "body: expected a JSON object")
    return document.get("context")


def _state(service: Service, environment: str) -> EnvironmentState:
    if not service.environment_exists(environment):
        raise ApiError(404, "not_found", f"no environment {environment!r}")
    return service.feed.state(environment)


def _success(resolution: Resolution) -> dict[str, Any]:
    result: dict[str, Any] = {
        "key": resolution.key,
        "reason": resolution.reason.value,
        "variant": resolution.variant,
    }
    if resolution.value is not NO_VALUE:
        result["value"] = resolution.value
    return result


def _item(resolution: Resolution) -> dict[str, Any]:
    return _failure_body(resolution) if resolution.failed else _success(resolution)


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _failure_body(resolution: Resolution) -> dict[str, Any]:
    assert resolution.error_code is not None
    return {
        "key": resolution.key,
        "errorCode": resolution.error_code.value,
        "errorDetails": resolution.error_details,
    }


def _failure(code: ErrorCode, details: str, *, key: str | None = None) -> Response:
    body: dict[str, Any] = {} if key is None else {"key": key}
    body["errorCode"] = code.value
    body["errorDetails"] = details
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=_STATUS.get(code, 400),
        media_type=_JSON,
    )


def _matches(header: str, etag: str) -> bool:
    candidates = [part.strip().removeprefix("W/") for part in header.split(",")]
    return "*" in candidates or etag in candidates
