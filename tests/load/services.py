"""Start real loopback services with a given latency, stopped when the test ends."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCRIPT = Path(__file__).with_name("slow_service.py")


@contextmanager
def slow_service(delay: float) -> Iterator[str]:
    """The base URL of a service answering every GET after ``delay`` seconds."""
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(delay)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
