"""Operating-system process helpers for the process target (Linux ``/proc``).

Instances run in their own session, so each is the leader of a process group
whose id equals its pid, and they outlive the controller that started them.
A pid alone does not identify an instance (pids are reused), so every check
compares the start time recorded in ``/proc/<pid>/stat`` as well.

Each instance's environment carries ``ROLLSAFE_TARGET_ROOT=<root>``; that
marker lets ``stop`` find processes a crashed controller never recorded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from rollsafe.errors import TargetError
from rollsafe.support.procfs import proc_stat

MARKER = "ROLLSAFE_TARGET_ROOT"
"""Environment variable naming the target root an instance belongs to."""
MAINTENANCE_MARKER = "maintenance"
"""File under the target root whose presence puts instances in maintenance mode."""

_POLL = 0.02
_KILL_WAIT = 5.0
"""How long a SIGKILLed process group may take to disappear before that is an error."""

# Children this process started. Holding the Popen objects lets us reap them
# (no zombies while the controller lives) and keeps Popen.__del__ from warning
# about a child we deliberately leave running.
_children: dict[int, subprocess.Popen[bytes]] = {}
_children_lock = threading.Lock()


def spawn(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: Path, header: str
) -> subprocess.Popen[bytes]:
    """Start ``argv`` (no shell) in a new session with stdout and stderr appended to ``log``."""
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            out.write(header.encode())
            out.flush()
            process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
    except OSError as exc:
        raise TargetError(f"cannot start {argv[0]!r} in {cwd}: {exc}") from exc
    with _children_lock:
        _children[process.pid] = process
    return process


def _reap() -> None:
    """Collect the exit status of every child of ours that ended (so none stays a zombie)."""
    with _children_lock:
        for pid, process in list(_children.items()):
            if process.poll() is not None:
                del _children[pid]


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None when it is gone or a zombie."""
    _reap()
    fields = proc_stat(pid)
    if fields is None or fields[0] in ("Z", "X", "x"):
        return None
    return int(fields[19])


def running(pid: int, ticks: int) -> bool:
    """True when ``pid`` is alive and is the process that started at ``ticks``."""
    return start_ticks(pid) == ticks


def _pids() -> Iterable[int]:
    uid = os.getuid()
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid != uid:
                continue
        except OSError:
            continue
        yield int(name)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``."""
    members = []
    for pid in _pids():
        fields = proc_stat(pid)
        if fields is not None and fields[0] not in ("Z", "X", "x") and int(fields[2]) == pgid:
            members.append(pid)
    return members


def marked(root: Path) -> dict[int, int]:
    """Live processes whose environment names ``root`` as their target: ``{pid: pgid}``."""
    needle = f"{MARKER}={root}".encode()
    found: dict[int, int] = {}
    for pid in _pids():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            fields = proc_stat(pid)
            if fields is not None and fields[0] not in ("Z", "X", "x"):
                found[pid] = int(fields[2])
    return found


def orphans(root: Path, instances: set[int]) -> dict[int, int]:
    """Marked processes that belong to none of ``instances`` (pids): ``{pid: pgid}``.

    A process belongs to an instance when the instance leads its group or is
    one of its ancestors (a helper that started its own session still belongs).
    """
    found = {}
    for pid, pgid in marked(root).items():
        if pgid in instances or _descends(pid, instances):
            continue
        found[pid] = pgid
    return found


def _descends(pid: int, ancestors: set[int]) -> bool:
    for _ in range(64):
        fields = proc_stat(pid)
        if fields is None:
            return False
        pid = int(fields[1])
        if pid in ancestors:
            return True
        if pid <= 1:
            return False
    return False


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass
    except PermissionError as exc:
        raise TargetError(f"not allowed to signal process group {pgid}: {exc}") from exc


def _alive(pgid: int) -> bool:
    _reap()
    fields = proc_stat(pgid)
    leader_alive = fields is not None and fields[0] not in ("Z", "X", "x")
    return leader_alive or bool(group_members(pgid))


def stop_groups(pgids: Iterable[int], timeout: float) -> None:
    """SIGTERM each process group, SIGKILL what is left after ``timeout`` seconds.

    The caller vouches that each pgid is ours: a verified live leader, or a
    group that still has a marked member (a group id is not reused while the
    group has members). Raises TargetError if a group survives SIGKILL.
    """
    remaining = sorted(set(pgids))
    for pgid in remaining:
        _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while remaining and time.monotonic() < deadline:
        time.sleep(_POLL)
        remaining = [pgid for pgid in remaining if _alive(pgid)]
    for pgid in remaining:
        _signal_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + _KILL_WAIT
    while remaining and time.monotonic() < deadline:
        time.sleep(_POLL)
        remaining = [pgid for pgid in remaining if _alive(pgid)]
    if remaining:
        raise TargetError(f"process groups {remaining} survived SIGKILL for {_KILL_WAIT}s")


def describe_exit(code: int) -> str:
    """``exited with code 1`` or ``was killed by SIGKILL`` from a Popen return code."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def mark_maintenance(marker: Path, on: bool) -> None:
    """Create (``on``) or remove the maintenance marker file; both are idempotent."""
    marker.parent.mkdir(parents=True, exist_ok=True)
    if on:
        marker.write_text("rollsafe: maintenance in progress\n")
    else:
        marker.unlink(missing_ok=True)
