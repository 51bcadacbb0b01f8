"""The small test service (``tests/targets/service.py``) as the target of a rollback plan."""

from __future__ import annotations

import json
from pathlib import Path

from tests.targets.conftest import COMMAND

TARGET = f"""\
version: 1
service: svc
target:
  root: root
  instances: 1
  command: {json.dumps(COMMAND)}
  health: {{timeout: 1s, interval: 50ms, retries: 60}}
  stop_timeout: 2s
"""
"""The head of a plan: one instance of the test service, releases under ``root``."""


def install_releases(root: Path, *releases: str, crashing: str) -> None:
    """Release directories under ``root/releases``; ``crashing`` exits at start (deploy fails)."""
    for release in (*releases, crashing):
        (root / "releases" / release).mkdir(parents=True, exist_ok=True)
    (root / "releases" / crashing / "crash").write_text("")
