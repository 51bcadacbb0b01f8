from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def rollsafe(tmp_path: Path) -> Run:
    """Run the real ``rollsafe`` command line in a subprocess with a fresh home."""

    def run(
        *args: str,
        home: Path | None = None,
        timeout: float = 120,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "rollsafe", "--home", str(home or tmp_path / "home"), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", **(env or {})},
        )

    return run


# The real sample shop with 1.0.0 live, for rollouts driven end to end through the CLI.
from tests.controller.conftest import shop as shop  # noqa: E402
