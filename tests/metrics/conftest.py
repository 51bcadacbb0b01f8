from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.demo.servers import Shops


@pytest.fixture
def shops(tmp_path: Path) -> Iterator[Shops]:
    shops = Shops(tmp_path, tmp_path / "data" / "shop.db")
    try:
        yield shops
    finally:
        shops.stop_all()
