"""Fixtures of the SLO tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controller.rig import Rig, store_template


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """A rollout on rollsafe.testing's fakes over a real SQLite store (tests/controller/rig.py)."""
    rig = Rig(tmp_path, template=store_template(tmp_path / "template"))
    try:
        yield rig
    finally:
        rig.close()
