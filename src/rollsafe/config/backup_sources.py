"""Pydantic models of the scale-out backup sources: a PostgreSQL database (``pg_dump``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from rollsafe.config.types import Duration, StrictModel

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class PostgresBackupSource(StrictModel):
    """A PostgreSQL database, dumped with ``pg_dump -Fc`` and restored with ``pg_restore``.

    ``url`` is a libpq URL (``postgresql://user@host:5432/dbname``); a password in
    it is handed to the client tools through the environment, never on their
    command line. ``timeout`` bounds each of ``pg_dump`` and ``pg_restore``.
    """

    type: Literal["postgres"] = "postgres"
    name: Annotated[str, Field(pattern=_NAME, max_length=100)]
    url: Annotated[str, Field(pattern=r"^postgres(ql)?://\S+$")]
    timeout: Duration = 600.0
