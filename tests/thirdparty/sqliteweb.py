"""sqlite-web (coleifer/sqlite-web, MIT), a third-party Flask application from PyPI.

The tests deploy its released versions 0.6.3 and 0.6.4 exactly as published: each
release directory is a ``pip install --target`` of the wheel that ``make install``
built from the pinned sdist (tests/thirdparty/requirements.txt). Nothing is added to
it: no metrics endpoint, no rollsafe code, no plugin. It writes the SQLite database
the plan backs up (``POST /<table>/insert/``).

A *broken* release is a bad build of the same version: its package lost the
``table_content.html`` template, so ``GET /<table>/content/`` answers 500 while every
other route works, the kind of fault a packaging mistake ships.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

WHEELS = Path(sys.prefix) / "thirdparty"
VERSIONS = ("0.6.3", "0.6.4")
TABLE = "orders"


def install_release(root: Path, version: str, *, broken: bool = False, name: str = "") -> Path:
    """``<root>/releases/<name or version>/`` holding sqlite-web ``version``, installed offline."""
    release_dir = root / "releases" / (name or version)
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--no-index", "--find-links", str(WHEELS),
            "--target", str(release_dir), f"sqlite-web=={version}",
        ],
        check=True,
    )  # fmt: skip
    if broken:
        (release_dir / "sqlite_web" / "templates" / "table_content.html").unlink()
    return release_dir


def create_database(path: Path) -> None:
    """The application's data: one table the load writes orders into."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, item TEXT)")
    db.close()


def command(database: Path) -> list[str]:
    """The process target's argv: the application's own command line, nothing wrapped."""
    return ["{python}", "-m", "sqlite_web", str(database), "-H", "127.0.0.1", "-p", "{port}", "-x"]


def order_count(database: Path) -> int:
    with sqlite3.connect(database) as db:
        (count,) = db.execute("SELECT count(*) FROM orders").fetchone()
    db.close()
    return int(count)
