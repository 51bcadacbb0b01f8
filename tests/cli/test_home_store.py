"""The CLI opens its store through ``with home.store()``: closed at the end, errors included."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from rollsafe.cli.home import Home
from rollsafe.errors import RollsafeError
from rollsafe.store import Store


def closed(store: Store) -> bool:
    try:
        store.list_flags()
    except Exception:  # whatever a closed connection raises
        return True
    return False


def test_the_store_is_open_inside_and_closed_after(tmp_path: Path) -> None:
    with Home(tmp_path).store() as store:
        assert store.list_flags() == []
    assert closed(store)


def test_the_store_is_closed_when_the_command_fails(tmp_path: Path) -> None:
    with pytest.raises(RollsafeError, match="refused"), Home(tmp_path).store() as store:
        raise RollsafeError("refused")
    assert closed(store)


def test_existing_store_creates_nothing_and_closes_what_it_opened(tmp_path: Path) -> None:
    refused = pytest.raises(typer.Exit)  # the CLI's clean refusal: no state at this home
    with refused, Home(tmp_path / "empty").existing_store():
        pass
    assert not (tmp_path / "empty").exists()
    with Home(tmp_path).store():
        pass  # now there is a store
    with Home(tmp_path).existing_store() as store:
        assert store.list_flags() == []
    assert closed(store)
