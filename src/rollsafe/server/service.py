"""What request handlers share: the stores, the change feed, the authenticator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from rollsafe.server.auth import Authenticator, Caller
from rollsafe.server.feed import ChangeFeed
from rollsafe.server.settings import ServerSettings
from rollsafe.server.usage import Usage
from rollsafe.store.protocol import Store
from rollsafe.store.records import TokenScope


@dataclass
class Service:
    store: Store
    """Writes and admin reads (from the request thread pool)."""
    reader: Store
    """Token and environment lookups from the event loop (never waits for a writer)."""
    feed: ChangeFeed
    auth: Authenticator
    settings: ServerSettings
    usage: Usage = field(default_factory=Usage)
    """Requests per token and per application (``/api/admin/status``)."""
    known_environments: set[str] = field(default_factory=set, repr=False)
    """Environments seen to exist; never deleted, so a request need not read the store again."""

    def environment_exists(self, name: str) -> bool:
        if name in self.known_environments:
            return True
        exists = any(e.name == name for e in self.reader.list_environments())
        if exists:
            self.known_environments.add(name)
        return exists


def get_service(request: Request) -> Service:
    service = request.app.state.service
    assert isinstance(service, Service)
    return service


async def _admin(request: Request) -> Caller:
    return get_service(request).auth.caller(request, TokenScope.ADMIN)


async def _client(request: Request) -> Caller:
    return get_service(request).auth.caller(request, TokenScope.CLIENT)


async def _service(request: Request) -> Service:
    """`get_service` as an async dependency: FastAPI runs a plain function one in its thread
    pool, a thread hand-off per request that costs more than the request itself."""
    return get_service(request)


ServiceDep = Annotated[Service, Depends(_service)]
AdminCaller = Annotated[Caller, Depends(_admin)]
ClientCaller = Annotated[Caller, Depends(_client)]
