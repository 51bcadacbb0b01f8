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

    def environment_exists(self, name: str) -> bool:
        return any(e.name == name for e in self.reader.list_environments())


def get_service(request: Request) -> Service:
    service = request.app.state.service
    assert isinstance(service, Service)
    return service


async def _admin(request: Request) -> Caller:
    return get_service(request).auth.caller(request, TokenScope.ADMIN)


async def _client(request: Request) -> Caller:
    return get_service(request).auth.caller(request, TokenScope.CLIENT)


ServiceDep = Annotated[Service, Depends(get_service)]
AdminCaller = Annotated[Caller, Depends(_admin)]
ClientCaller = Annotated[Caller, Depends(_client)]
