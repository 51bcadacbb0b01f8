"""Daemon processes seen through ``/proc`` (Linux), where the router has no child to wait on.

nginx daemonises: its master is not a child of the controller, so liveness comes
from signals and ``/proc``. A process that exited but was not reaped (its parent
is an init that never waits) is a zombie and counts as gone.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from rollsafe.support.procfs import proc_stat


def is_nginx(pid: int) -> bool:
    """Alive (not a zombie) and, where ``/proc`` tells, an nginx process (pids get reused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if not Path("/proc/self").exists():
        return True
    stat = proc_stat(pid)
    if stat is None or stat[0] == "Z":
        return False  # gone, or exited and waiting for a parent that never reaps it
    try:
        return b"nginx" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (nginx's workers), where ``/proc`` exists."""
    found = []
    for entry in Path("/proc").glob("[0-9]*") if Path("/proc/self").exists() else []:
        stat = proc_stat(int(entry.name))
        if stat is not None and len(stat) > 1 and stat[1] == str(pid):
            found.append(int(entry.name))
    return found


def accepting(worker: int) -> bool:
    """Whether an nginx worker may still accept connections: alive and not shutting down.

    A worker told to stop sets its title to ``worker process is shutting down``
    right before closing its listening sockets.
    """
    if not is_nginx(worker):
        return False
    try:
        return b"shutting down" not in Path(f"/proc/{worker}/cmdline").read_bytes()
    except OSError:
        return False


def wait_gone(pid: int, seconds: float) -> bool:
    """Whether the nginx process ``pid`` is gone within ``seconds``."""
    deadline = time.monotonic() + seconds
    while is_nginx(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
