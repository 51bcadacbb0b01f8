"""Fixtures every test package may use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.endpoints import healthy_server


@pytest.fixture
def healthy_endpoint() -> Iterator[str]:
    """A loopback endpoint whose health checks pass (tests/endpoints.py), for command targets."""
    with healthy_server() as url:
        yield url
