"""Store tests run against both backends: ``backend``/``store`` are parametrized over them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rollsafe.store import Store
from tests.store.backends import Backend, PostgresBackend, SqliteBackend, postgres_schema


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Where a store lives: a SQLite file in tmp, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        sqlite = SqliteBackend(tmp_path / "rollsafe.db")
        yield sqlite
        sqlite.close_all()
        return
    with postgres_schema() as url:
        postgres = PostgresBackend(url)
        try:
            yield postgres
        finally:
            postgres.close_all()  # pools closed before the schema is dropped


@pytest.fixture
def store(backend: Backend) -> Store:
    """An empty, migrated store of each backend (closed by the backend fixture)."""
    return backend.open()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL of a fresh PostgreSQL schema, for tests of the PostgreSQL backend alone."""
    with postgres_schema() as url:
        yield url
