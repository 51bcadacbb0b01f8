"""A port for a server that another process binds later, chosen so nothing else takes it.

A port from ``bind(0)`` comes from the kernel's ephemeral range, which every
outgoing connection on the machine also draws its source port from. Between the
probe closing it and the child binding it (a cold interpreter: seconds on a busy
machine), a connection made by any other test may take it, and the child fails
with EADDRINUSE. Below that range only an explicit bind to the same number can
take it, and the probe shows none holds it now.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_LOWEST = 20000
"""Above the well-known ports services in these tests use (5432, 8000, 9090, ...)."""


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def unused_port() -> int:
    """A loopback port below the ephemeral range that nothing is bound to right now."""
    highest = max(_ephemeral_start(), _LOWEST + 1000)
    for _ in range(200):
        port = random.randrange(_LOWEST, highest)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free loopback port between {_LOWEST} and {highest}")
