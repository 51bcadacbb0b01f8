"""A mistyped ``--store`` URL is refused without printing its password, by every command."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Run

MALFORMED = [
    "postgresql://app:Zq9-s3cret-Kx7@[::1/shop",  # unclosed [
    "postgresql://app:Zq9-s3cret%zzKx7@127.0.0.1/shop",  # bad % escape
    "postgresql://app:Zq9@s3cret-Kx7@127.0.0.1/shop",  # unescaped @
    "POSTGRESQL://app:Zq9-s3cret-Kx7@127.0.0.1/shop",  # not a scheme libpq knows
    "host=127.0.0.1 password=Zq9-s3cret-Kx7 dbname=shop",  # a conninfo, not a URL
]


@pytest.mark.parametrize("url", MALFORMED)
@pytest.mark.parametrize(
    "command",
    [("journal", "show"), ("server", "--port", "1"), ("demo",)],
    ids=["journal", "server", "demo"],
)
def test_a_malformed_store_url_never_shows_its_password(
    tmp_path: Path, rollsafe: Run, url: str, command: tuple[str, ...]
) -> None:
    args = (*command, "--workdir", str(tmp_path / "demo")) if command == ("demo",) else command
    result = rollsafe("--store", url, *args, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "error:" in result.stderr
    assert "Traceback" not in output
    assert "Zq9" not in output
    assert "Kx7" not in output
    # No SQLite file named after the address (its name would hold the password), here or in
    # the working directory the command ran in.
    assert not [path for path in tmp_path.rglob("*") if "Zq9" in path.name]
    assert not [path for path in Path.cwd().iterdir() if "Zq9" in path.name]
    assert not (Path.cwd() / "POSTGRESQL:").exists()
