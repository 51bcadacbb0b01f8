"""What the process target records about its instances: ``<root>/run/instances.json``.

The file is rewritten atomically (temp file, fsync, ``os.replace``), so a
reader sees the old or the new state, never half of one. Writers hold
``<root>/run/lock`` (``flock``; the kernel releases it when a controller dies).

Each entry has a status:

- ``starting``: spawned, not yet healthy; takes no traffic.
- ``ready``: healthy and serving; the only entries ``instances()`` returns.
- ``draining``: replaced or being stopped; takes no traffic.

``starting`` and ``draining`` entries found by a later operation are leftovers
of an interrupted one, and are stopped.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from rollsafe.errors import TargetBusyError, TargetError

Status = Literal["starting", "ready", "draining"]
Role = Literal["stable", "canary"]
_FORMAT = 1
LOCK_RETRY_DELAY = 1.0
"""Seconds the controller waits before trying a step again after a busy lock."""


@dataclass(frozen=True)
class Instance:
    """One live, healthy instance of the service."""

    index: int
    """Its slot, ``0 .. instances-1``; a rolling replacement swaps one slot at a time."""
    pid: int
    port: int
    release: str
    url: str
    """Base URL, ``http://127.0.0.1:<port>``."""
    started_at: float
    """Wall-clock time (``time.time()``) the process was started."""
    role: Role = "stable"
    """``canary``: one of the instances of a canary release running beside the stable ones."""


@dataclass(frozen=True)
class Entry:
    """One row of ``instances.json``."""

    index: int
    pid: int
    port: int
    release: str
    started_at: float
    start_ticks: int
    """``starttime`` from ``/proc/<pid>/stat``: tells our process from a reused pid."""
    status: Status
    role: Role = "stable"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def instance(self) -> Instance:
        return Instance(
            self.index, self.pid, self.port, self.release, self.url, self.started_at, self.role
        )

    def same_process(self, other: Entry) -> bool:
        return (self.pid, self.start_ticks) == (other.pid, other.start_ticks)

    @classmethod
    def from_json(cls, data: Any) -> Entry:
        if (
            not isinstance(data, dict)
            or data.get("status") not in get_args(Status)
            or data.get("role", "stable") not in get_args(Role)
        ):
            raise ValueError(f"not an instance entry: {data!r}")
        return cls(
            index=int(data["index"]),
            pid=int(data["pid"]),
            port=int(data["port"]),
            release=str(data["release"]),
            started_at=float(data["started_at"]),
            start_ticks=int(data["start_ticks"]),
            status=data["status"],
            role=data.get("role", "stable"),  # files written before canaries have none
        )


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> list[Entry]:
        """Every recorded entry, dead or alive; raises TargetError when the file is corrupt."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise TargetError(f"cannot read {self.path}: {exc}") from exc
        try:
            document = json.loads(text)
            if document.get("format") != _FORMAT:
                raise ValueError(f"unknown format {document.get('format')!r}")
            return [Entry.from_json(item) for item in document["instances"]]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise TargetError(f"{self.path} is corrupt: {exc}") from exc

    def write(self, entries: list[Entry]) -> None:
        document = {
            "format": _FORMAT,
            "instances": [asdict(entry) for entry in sorted(entries, key=_order)],
        }
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("w") as out:
                json.dump(document, out, indent=2)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise TargetError(f"cannot write {self.path}: {exc}") from exc


def _order(entry: Entry) -> tuple[str, int, float]:
    return entry.role, entry.index, entry.started_at


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def locked(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``; TargetBusyError after ``timeout`` seconds.

    Busy is transient: the other process (a controller deploying, an operator's
    rollback) lets go when it finishes, so the controller retries the step.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a")
    except OSError as exc:
        raise TargetError(f"cannot open lock file {path}: {exc}") from exc
    with handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TargetBusyError(
                        f"another rollsafe process has held {path} for more than {timeout:.1f}s",
                        delay=LOCK_RETRY_DELAY,
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
