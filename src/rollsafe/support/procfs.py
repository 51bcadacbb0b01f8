"""Read a process's ``/proc/<pid>/stat`` (Linux), the one place rollsafe parses it.

Targets tell their own process from a reused pid by its start time, routers
watch daemonised nginx processes and the controller's lease tells a dead owner
from a zombie: all from the same line, whose command name (in parentheses) may
itself hold spaces and parentheses, so the fields are taken after the last ``)``.
"""

from __future__ import annotations

from pathlib import Path


def proc_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (``state`` first); None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rpartition(")")[2].split()
