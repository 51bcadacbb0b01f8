"""A port for a server that another process binds later, chosen so nothing else takes it.

A port from ``bind(0)`` comes from the kernel's ephemeral range, which every
outgoing connection on the machine also draws its source port from. Between the
probe closing it and the child binding it (a cold interpreter: seconds on a busy
machine), a connection made by any other test may take it, and the child fails
with EADDRINUSE. Below that range only an explicit bind to the same number can
take it, and the probe shows none holds it now.

Explicit binds are what is left, and the likeliest are this suite's own: another xdist
worker's probe, or this process's previous one, picking the same number while the first
child still starts (seen once: a shop failing with EADDRINUSE on a port its probe had found
free). So each worker draws from its own residue class of the range (``port % workers ==
worker``), and a process does not hand out a port it handed out recently.
"""

from __future__ import annotations

import os
import random
import socket
from collections import deque
from pathlib import Path

_LOWEST = 20000
"""Above the well-known ports services in these tests use (5432, 8000, 9090, ...)."""
_RECENT: deque[int] = deque(maxlen=256)
"""Ports this process handed out lately: a server may not have bound one yet."""


def _worker_slot() -> tuple[int, int]:
    """(this xdist worker's index, the number of workers); (0, 1) outside xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    try:
        count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
        index = int(name.removeprefix("gw")) if name else 0
    except ValueError:
        return 0, 1
    return (index % count, count) if count > 0 else (0, 1)


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def unused_port() -> int:
    """A loopback port below the ephemeral range that nothing is bound to right now."""
    highest = max(_ephemeral_start(), _LOWEST + 1000)
    index, count = _worker_slot()
    for _ in range(200):
        port = random.randrange(_LOWEST, highest)
        port -= (port - index) % count  # this worker's residue class
        if port < _LOWEST or port in _RECENT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _RECENT.append(port)
        return port
    raise RuntimeError(f"no free loopback port between {_LOWEST} and {highest}")
