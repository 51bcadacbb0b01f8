"""Where every command works: the home directory for artifacts, and the state store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import typer

from rollsafe.cli.output import fail
from rollsafe.journal.keys import configured_key
from rollsafe.store import DATABASE_FILE, Store, open_store_url
from rollsafe.support.private import private_directory
from rollsafe.support.redaction import is_postgres_url, redacted


@dataclass(frozen=True)
class Home:
    """``path`` holds backups, reports and logs; the store is ``store_url`` if given
    (``--store``: a ``postgresql://`` URL or a SQLite file), else ``<path>/rollsafe.db``."""

    path: Path
    store_url: str | None = None

    @property
    def store_address(self) -> str:
        return self.store_url or str(self.path / DATABASE_FILE)

    def open_store(self) -> Store:
        configured_key()  # a bad journal key is refused before anything is written
        for sub in ("backups", "reports", "logs"):
            private_directory(self.path / sub)
        return open_store_url(self.store_address)

    def open_existing_store(self) -> Store:
        """For read-only commands: do not create a SQLite store that is not there."""
        address = self.store_address
        if not is_postgres_url(address) and not Path(address).exists():
            where = "--store" if self.store_url else "--home"
            fail(f"no rollsafe state at {redacted(address)}; see {where}")
        return open_store_url(address)

    @contextmanager
    def store(self) -> Iterator[Store]:
        """``with home.store() as store:`` the store, created if missing, closed on the way out."""
        with closing(self.open_store()) as store:
            yield store

    @contextmanager
    def existing_store(self) -> Iterator[Store]:
        """As :meth:`store`, for read-only commands (see :meth:`open_existing_store`)."""
        with closing(self.open_existing_store()) as store:
            yield store


def home_of(ctx: typer.Context) -> Home:
    home = ctx.find_root().obj
    assert isinstance(home, Home)
    return home
