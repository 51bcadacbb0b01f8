"""Pydantic models of the scale-out backup sources: a PostgreSQL database (``pg_dump``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from rollsafe.config.types import Duration, StrictModel
from rollsafe.errors import BackupError
from rollsafe.support.redaction import ambiguous_credentials, is_postgres_url

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class PostgresBackupSource(StrictModel):
    """A PostgreSQL database, dumped with ``pg_dump -Fc`` and restored with ``pg_restore``.

    Exactly one of ``url`` (a libpq URL, ``postgresql://user@host:5432/dbname``)
    or ``url_env`` (the name of an environment variable holding such a URL or a
    ``key=value`` connection string) says where the database is. Prefer
    ``url_env`` or libpq's own ``PGPASSWORD``/``~/.pgpass`` for a password: the
    plan's text is stored with each rollout. ``url_env`` is read each time the
    source is used, so a plan validates without the secret and a rotated one
    is picked up. A password never reaches the journal, the backup's manifest
    or the client tools' command line. ``timeout`` bounds each of ``pg_dump``
    and ``pg_restore``.
    """

    type: Literal["postgres"] = "postgres"
    name: Annotated[str, Field(pattern=_NAME, max_length=100)]
    url: SecretStr | None = None
    """Masked in reprs and dumps of the plan, as it may hold a password."""
    url_env: Annotated[str | None, Field(pattern=_ENV_NAME, validate_default=True)] = None
    timeout: Duration = 600.0

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, url: SecretStr | None) -> SecretStr | None:
        # The message never repeats the value: it may hold a password.
        text = None if url is None else url.get_secret_value()
        if text is not None and (not _well_formed(text) or ambiguous_credentials(text)):
            raise ValueError(
                "must be a PostgreSQL URL like postgresql://user@host:5432/dbname, with any"
                " @ or / in the user or password escaped as %40 or %2F"
                " (the value is not shown: it may hold a password)"
            )
        return url

    @field_validator("url_env")
    @classmethod
    def _exactly_one_address(cls, url_env: str | None, info: ValidationInfo) -> str | None:
        if "url" not in info.data:
            return url_env  # url itself was invalid and already reported
        url = info.data["url"]
        if url is None and url_env is None:
            raise ValueError(
                "required unless url is given: the environment variable holding the"
                " database URL (or set url)"
            )
        if url is not None and url_env is not None:
            raise ValueError("give url or url_env, not both")
        return url_env

    def resolve_url(self, environ: Mapping[str, str] | None = None) -> str:
        """The connection URL, from ``url_env`` in ``environ`` (the process's) when set.

        Raises BackupError naming the variable when it is unset or empty.
        """
        if self.url is not None:
            return self.url.get_secret_value()
        assert self.url_env is not None  # the validator requires one of the two
        value = (os.environ if environ is None else environ).get(self.url_env, "").strip()
        if not value:
            raise BackupError(
                f"backup source {self.name!r}: environment variable {self.url_env}"
                " (url_env) is not set; it must hold the database URL"
            )
        return value

    def resolved(self, base: Path) -> PostgresBackupSource:
        """Nothing in this source is a path relative to the plan's folder."""
        del base
        return self


def _well_formed(url: str) -> bool:
    """A ``postgresql://`` URL without whitespace that Python's URL parser accepts."""
    if not is_postgres_url(url) or any(char.isspace() for char in url):
        return False
    try:
        urlsplit(url)  # an unclosed [ of an IPv6 address
    except ValueError:
        return False
    return True
