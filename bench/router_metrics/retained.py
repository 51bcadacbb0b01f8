"""What the source itself keeps, apart from the process's allocator: ``tracemalloc`` over looks.

A process's RSS also moves with the interpreter's and the C library's own
arenas; the Python objects a :class:`RouterSource` keeps between looks are what
must not grow with the number of records. Records here are written to a file
by this process, in nginx's format, between looks.
"""

from __future__ import annotations

import json
import tempfile
import tracemalloc
from pathlib import Path

from rollsafe.config import RouterMetrics
from rollsafe.metrics import RouterSource

RECORD = json.dumps(
    {
        "t": 1764880000.123,
        "status": 200,
        "upstream": "127.0.0.1:8001",
        "upstream_status": "200",
        "request_time": 0.012,
        "connect_time": "0.000",
        "response_time": "0.012",
        "variant": "new",
    },
    separators=(",", ":"),
).encode()


def retained(looks: int = 600, per_look: int = 2000) -> list[tuple[int, int]]:
    """(look, bytes the source's objects hold) after looks 10, 100 and the last."""
    samples: list[tuple[int, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "requests.log"
        path.write_bytes(b"")
        source = RouterSource(RouterMetrics(), path)
        batch = (RECORD + b"\n") * per_look
        tracemalloc.start()
        try:
            with path.open("ab", buffering=0) as log:
                for look in range(1, looks + 1):
                    log.write(batch)
                    source.observe(float(look))
                    if look in (10, 100, looks):
                        samples.append((look, tracemalloc.get_traced_memory()[0]))
        finally:
            tracemalloc.stop()
            source.close()
    return samples
