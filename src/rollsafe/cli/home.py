"""The state home every command works in: where the database and artifacts live."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer

from rollsafe.cli.output import fail
from rollsafe.store import SqliteStore, Store


@dataclass(frozen=True)
class Home:
    path: Path

    @property
    def db_path(self) -> Path:
        return self.path / "rollsafe.db"

    def open_store(self) -> Store:
        for sub in ("backups", "reports", "logs"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        return SqliteStore(self.db_path)

    def open_existing_store(self) -> Store:
        """For read-only commands: do not create a home that is not there."""
        if not self.db_path.exists():
            fail(f"no rollsafe state in {self.path} (no {self.db_path.name}); see --home")
        return SqliteStore(self.db_path)


def home_of(ctx: typer.Context) -> Home:
    home = ctx.find_root().obj
    assert isinstance(home, Home)
    return home
