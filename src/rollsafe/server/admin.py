"""``/api/admin``: flags (CRUD with optimistic concurrency, kill switch), environments, tokens.

Every write is journaled by the store with the caller as actor; after a write
the change feed reads the store at once, so streams hear of it without waiting
for the next poll.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from rollsafe.errors import ConflictError, FlagError
from rollsafe.flags import Engine
from rollsafe.server import tokens
from rollsafe.server.applications import connected_applications
from rollsafe.server.errors import ApiError
from rollsafe.server.models import (
    EnvironmentIn,
    EnvironmentOut,
    ErrorBody,
    FlagList,
    FlagOut,
    FlagResult,
    FlagWrite,
    Status,
    TokenCreated,
    TokenIn,
    TokenOut,
)
from rollsafe.server.service import AdminCaller, ServiceDep
from rollsafe.store.flagwrites import put_flag_if_changed

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing, unknown or revoked token"},
    403: {"model": ErrorBody, "description": "The token lacks the scope or environment"},
    503: {"model": ErrorBody, "description": "The state store is unavailable; retry later"},
}
"""What every ``/api`` route may answer; each route adds its own (the OpenAPI lists only those)."""
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such environment, flag or token"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "Stale expected_version; nothing was changed"}
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "Invalid request; problems name the fields"}
}
WITH_BODY: dict[int | str, dict[str, Any]] = {
    **INVALID,
    413: {"model": ErrorBody, "description": "The body is larger than 1 MiB"},
}

router = APIRouter(prefix="/api/admin", tags=["admin"], responses=ERRORS)

Environment = Annotated[
    str | None, Query(description="Defaults to the token's environment, else 'default'.")
]
KILL_ATTEMPTS = 20


def check_definition(name: str, definition: dict[str, Any]) -> dict[str, Any]:
    """The definition named ``name``, checked strictly as the engine would read it; 422 if not."""
    given = definition.get("name", name)
    if given != name:
        raise ApiError(
            422,
            "invalid_flag",
            f"definition.name: {given!r} does not match the flag name {name!r} in the URL",
            problems=[{"field": "definition.name", "message": "does not match the URL"}],
        )
    definition = {**definition, "name": name}
    try:
        Engine.from_unleash({"version": 1, "features": [definition]}, strict=True)
    except FlagError as error:
        raise ApiError(
            422,
            "invalid_flag",
            f"definition: {error}",
            problems=[{"field": "definition", "message": str(error)}],
        ) from error
    return definition


@router.get("/flags", response_model=FlagList, responses=NOT_FOUND)
def list_flags(caller: AdminCaller, service: ServiceDep, environment: Environment = None) -> Any:
    env = _existing(service, caller.environment(environment))
    records = service.store.list_flags(env)
    return FlagList(environment=env, flags=[FlagOut.of(r, env) for r in records])


@router.get("/flags/{name}", response_model=FlagOut, responses=NOT_FOUND)
def get_flag(
    name: str,
    caller: AdminCaller,
    service: ServiceDep,
    response: Response,
    environment: Environment = None,
) -> Any:
    env = _existing(service, caller.environment(environment))
    record = service.store.get_flag(name, env)
    response.headers["ETag"] = f'"{record.version}"'
    return FlagOut.of(record, env)


@router.put(
    "/flags/{name}",
    response_model=FlagResult,
    responses={**NOT_FOUND, **CONFLICT, **WITH_BODY, 201: {"model": FlagResult}},
)
def put_flag(
    name: str,
    body: FlagWrite,
    caller: AdminCaller,
    service: ServiceDep,
    response: Response,
    environment: Environment = None,
) -> Any:
    """Create (``expected_version`` 0) or replace a flag; a stale version gets 409.

    The same definition as the version expected writes nothing: 200 with
    ``changed`` false, no new version, no journal entry, nothing streamed.
    """
    env = _existing(service, caller.environment(environment))
    definition = check_definition(name, body.definition)
    record, changed = put_flag_if_changed(
        service.store,
        name,
        definition,
        actor=caller.actor,
        expected_version=body.expected_version,
        environment=env,
    )
    if changed:
        service.feed.poll_now()
    response.status_code = 201 if body.expected_version == 0 else 200
    response.headers["ETag"] = f'"{record.version}"'
    return FlagResult(**FlagOut.of(record, env).model_dump(), changed=changed)


@router.delete("/flags/{name}", status_code=204, responses={**NOT_FOUND, **CONFLICT, **INVALID})
def delete_flag(
    name: str,
    caller: AdminCaller,
    service: ServiceDep,
    expected_version: Annotated[int, Query(ge=1, description="The version you read.")],
    environment: Environment = None,
) -> Response:
    env = _existing(service, caller.environment(environment))
    service.store.delete_flag(
        name, actor=caller.actor, expected_version=expected_version, environment=env
    )
    service.feed.poll_now()
    return Response(status_code=204)


@router.post(
    "/flags/{name}/kill",
    response_model=FlagResult,
    responses={
        **NOT_FOUND,
        409: {"model": ErrorBody, "description": "The flag kept changing; kill it again"},
    },
)
def kill_flag(
    name: str, caller: AdminCaller, service: ServiceDep, environment: Environment = None
) -> Any:
    """Turn a flag off for everyone (its strategies are kept for turning it back on).

    Needs no version: it re-reads and retries on a concurrent change, so it never
    overwrites someone else's edit and never fails because of one.
    """
    env = _existing(service, caller.environment(environment))
    for _ in range(KILL_ATTEMPTS):
        record = service.store.get_flag(name, env)
        if record.definition.get("enabled") is False:
            return FlagResult(**FlagOut.of(record, env).model_dump(), changed=False)
        try:
            record = service.store.put_flag(
                name,
                {**record.definition, "enabled": False},
                actor=caller.actor,
                expected_version=record.version,
                environment=env,
            )
        except ConflictError:
            continue
        service.feed.poll_now()
        return FlagResult(**FlagOut.of(record, env).model_dump(), changed=True)
    raise ApiError(409, "conflict", f"flag {name!r} kept changing; try the kill again")


@router.get("/environments", response_model=list[EnvironmentOut])
def list_environments(caller: AdminCaller, service: ServiceDep) -> Any:
    del caller
    return [EnvironmentOut.of(e) for e in service.store.list_environments()]


@router.post(
    "/environments",
    response_model=EnvironmentOut,
    status_code=201,
    responses={**CONFLICT, **WITH_BODY},
)
def create_environment(body: EnvironmentIn, caller: AdminCaller, service: ServiceDep) -> Any:
    if caller.token.environment != "*":
        raise ApiError(403, "forbidden", "only a token for all environments may create one")
    return EnvironmentOut.of(service.store.create_environment(body.name, actor=caller.actor))


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(caller: AdminCaller, service: ServiceDep) -> Any:
    """Every token, or, for a token bound to one environment, the tokens bound to it.

    A bound admin cannot create or revoke tokens; neither should it learn which other
    environments exist and who holds their tokens.
    """
    bound = caller.token.environment
    records = service.store.list_tokens()
    return [TokenOut.of(t) for t in records if bound in ("*", t.environment)]


@router.post(
    "/tokens", response_model=TokenCreated, status_code=201, responses={**NOT_FOUND, **WITH_BODY}
)
def create_token(body: TokenIn, caller: AdminCaller, service: ServiceDep) -> Any:
    """A new token; its secret is in this response only."""
    if caller.token.environment != "*":
        raise ApiError(403, "forbidden", "only a token for all environments may create tokens")
    secret, record = tokens.new_token(
        body.name, body.scope, environment=body.environment, created_by=caller.actor
    )
    service.store.add_token(record, actor=caller.actor)
    return TokenCreated(**TokenOut.of(record).model_dump(), token=secret)


@router.delete("/tokens/{token_id}", response_model=TokenOut, responses=NOT_FOUND)
def revoke_token(token_id: str, caller: AdminCaller, service: ServiceDep) -> Any:
    if caller.token.environment != "*":
        raise ApiError(403, "forbidden", "only a token for all environments may revoke tokens")
    record = service.store.revoke_token(token_id, actor=caller.actor)
    service.auth.forget()
    service.feed.check_tokens_now()
    return TokenOut.of(record)


@router.get("/status", response_model=Status)
async def status(caller: AdminCaller, service: ServiceDep) -> Any:
    return Status(
        revision=service.feed.revision,
        streams=service.feed.stream_count,
        dropped_streams=service.feed.dropped,
        max_streams=service.settings.max_streams,
        notifications=service.feed.notifications,
        applications=await connected_applications(service, caller.token.environment),
        requests_by_token=service.usage.by_token(),
        requests_by_application=service.usage.by_application(),
    )


def _existing(service: ServiceDep, environment: str) -> str:
    if not service.environment_exists(environment):
        raise ApiError(404, "not_found", f"no environment {environment!r}; create it first")
    return environment
