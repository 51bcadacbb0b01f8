"""Request and response bodies of the flag service (they make up the published OpenAPI)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rollsafe.server.applications import ApplicationOut
from rollsafe.store.records import (
    EnvironmentRecord,
    FlagRecord,
    TokenRecord,
    TokenScope,
)

ENVIRONMENT_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class Problem(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    error: str = Field(description="A stable code: unauthorized, forbidden, not_found, ...")
    message: str = Field(description="What went wrong and what to do, for people.")
    problems: list[Problem] = Field(default_factory=list, description="Per field, when invalid.")


class FlagWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any] = Field(
        description="An Unleash feature (enabled, strategies, variants, dependencies, ...); "
        "its name, if given, must match the URL. Checked strictly before it is stored."
    )
    expected_version: int = Field(
        ge=0,
        description="The version this change is based on: 0 to create the flag, else the "
        "version you read. A stale version gets 409 and changes nothing.",
    )


class FlagOut(BaseModel):
    name: str
    environment: str
    version: int
    updated_at: float
    updated_by: str
    definition: dict[str, Any]

    @classmethod
    def of(cls, record: FlagRecord, environment: str) -> FlagOut:
        return cls(
            name=record.name,
            environment=environment,
            version=record.version,
            updated_at=record.updated_at,
            updated_by=record.updated_by,
            definition=record.definition,
        )


class FlagList(BaseModel):
    environment: str
    flags: list[FlagOut]


class FlagResult(FlagOut):
    changed: bool = Field(
        description="False when nothing was written: the flag already had this definition"
        " (a kill: was already off)."
    )


class EnvironmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=ENVIRONMENT_PATTERN, description="1-64 of a-z, 0-9, '-', '_', '.'")


class EnvironmentOut(BaseModel):
    name: str
    created_at: float
    created_by: str

    @classmethod
    def of(cls, record: EnvironmentRecord) -> EnvironmentOut:
        return cls(name=record.name, created_at=record.created_at, created_by=record.created_by)


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="Who or what uses it (journaled).")
    scope: TokenScope = Field(description="client: read flags; admin: read and write.")
    environment: str = Field(
        default="*",
        pattern=r"^(\*|[a-z0-9][a-z0-9_.-]{0,63})$",
        description="The only environment it may use, or * for all.",
    )


class TokenOut(BaseModel):
    id: str
    name: str
    scope: TokenScope
    environment: str
    created_at: float
    created_by: str
    revoked_at: float | None

    @classmethod
    def of(cls, record: TokenRecord) -> TokenOut:
        return cls(
            id=record.id,
            name=record.name,
            scope=record.scope,
            environment=record.environment,
            created_at=record.created_at,
            created_by=record.created_by,
            revoked_at=record.revoked_at,
        )


class TokenCreated(TokenOut):
    token: str = Field(description="The secret; shown once, stored only as its SHA-256.")


class TokenRequests(BaseModel):
    id: str
    name: str
    requests: int = Field(description="Requests accepted with this token since the server started.")


class ApplicationRequests(BaseModel):
    name: str = Field(description="From the UNLEASH-APPNAME (or appName) header; '(unnamed)'.")
    requests: int


class Status(BaseModel):
    revision: int = Field(description="The store's flag revision this server has applied.")
    streams: int = Field(description="Open SSE streams.")
    dropped_streams: int = Field(description="Streams dropped because their client was too slow.")
    max_streams: int
    notifications: str = Field(
        description="'listening': PostgreSQL NOTIFY brings other replicas' changes at once;"
        " 'reconnecting': its connection is down, changes come by polling; 'off': SQLite,"
        " polling only."
    )
    applications: list[ApplicationOut] = Field(
        default_factory=list,
        description="SDK instances that registered or sent metrics (`server/applications.py`).",
    )
    requests_by_token: list[TokenRequests] = Field(
        default_factory=list, description="Since start, most first; at most 1,000 (then '(other)')."
    )
    requests_by_application: list[ApplicationRequests] = Field(
        default_factory=list, description="Since start, most first; at most 1,000 (then '(other)')."
    )
