"""Run one argv command (never a shell) with a timeout and bounded captured output.

Each command runs in its own session, so it leads a process group; on
timeout (or if the caller is interrupted) the whole group is stopped: SIGTERM,
then SIGKILL after a short grace. Only the last ``OUTPUT_LIMIT`` bytes of
stdout and of stderr are kept, so a chatty command cannot grow the
controller's memory or the journal without bound.

A command that exits by itself may leave a background process it started
(a daemon it launched) running; that is its business, not a leftover.
"""

from __future__ import annotations

import os
import selectors
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from rollsafe.targets import procs

OUTPUT_LIMIT = 64 * 1024
"""Bytes of stdout, and of stderr, kept from the end of a command's output."""

KILL_GRACE = 2.0
"""Seconds between SIGTERM and SIGKILL when a command's process group is stopped."""

_DRAIN = 0.5
"""After a command exits, how long to keep reading output a background child holds open."""
_POLL = 0.1


@dataclass(frozen=True)
class CommandResult:
    """What one command did; ``to_dict()`` is what the journal records."""

    step: str
    """Which list it came from: ``deploy``, ``rollback``, ``verify``, ``start`` or ``stop``."""
    argv: tuple[str, ...]
    """As run, placeholders filled in."""
    exit_code: int | None
    """The return code (negative: killed by that signal); None if it could not start."""
    stdout: str
    stderr: str
    duration: float
    """Seconds from start until it exited or was killed."""
    started_at: float
    """Wall-clock time (``time.time()``) it started."""
    timed_out: bool = False
    truncated: bool = False
    """Output was longer than ``OUTPUT_LIMIT``; only its end is kept."""
    error: str | None = None
    """Why it could not start (no such program, bad cwd)."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    @property
    def command(self) -> str:
        """The argv as one shell-quoted line, for messages (it is never run by a shell)."""
        return shlex.join(self.argv)

    def describe(self) -> str:
        """``exited with code 1``, ``timed out after 2.0s and was killed``, ``could not start``."""
        if self.error is not None:
            return f"could not start: {self.error}"
        if self.timed_out:
            return f"timed out after {self.duration:.1f}s and was killed"
        if self.exit_code is None:
            return "did not run"
        return procs.describe_exit(self.exit_code)

    def tail(self, lines: int = 20) -> str:
        """The last lines of stderr, else of stdout, indented; for error messages."""
        text = self.stderr.strip() or self.stdout.strip()
        return "\n".join(f"  {line}" for line in text.splitlines()[-lines:]) or "  (no output)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "argv": list(self.argv),
            "exit_code": self.exit_code,
            "ok": self.ok,
            "timed_out": self.timed_out,
            "duration": round(self.duration, 3),
            "started_at": self.started_at,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "truncated": self.truncated,
            "error": self.error,
        }


class _Tail:
    """The last ``OUTPUT_LIMIT`` bytes written to it."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        excess = len(self.data) - OUTPUT_LIMIT
        if excess > 0:
            del self.data[:excess]
            self.truncated = True

    def text(self) -> str:
        return self.data.decode(errors="replace")


def run_command(
    argv: Sequence[str],
    *,
    step: str,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    on_start: Callable[[int], None] | None = None,
) -> CommandResult:
    """Run ``argv`` to completion or ``timeout``; never raises for the command's failure.

    ``on_start(pid)`` is called once the command runs (its pid is also its
    process group id); an exception from it stops the command.
    """
    started_at = time.time()
    began = time.monotonic()
    try:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        return CommandResult(
            step, tuple(argv), None, "", "", time.monotonic() - began, started_at, error=str(exc)
        )
    out, err = _Tail(), _Tail()
    timed_out = True  # until the command is known to have finished by itself
    try:
        if on_start is not None:
            on_start(process.pid)
        timed_out = _pump(process, out, err, began + timeout)
    finally:
        try:
            if timed_out:  # also when interrupted: never leave a command running behind us
                procs.stop_groups([process.pid], KILL_GRACE)
        finally:
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
            process.wait()
    return CommandResult(
        step,
        tuple(argv),
        process.returncode,
        out.text(),
        err.text(),
        time.monotonic() - began,
        started_at,
        timed_out=timed_out,
        truncated=out.truncated or err.truncated,
    )


def _pump(process: subprocess.Popen[bytes], out: _Tail, err: _Tail, deadline: float) -> bool:
    """Read both pipes until the command exits; True if ``deadline`` came first."""
    exited_at: float | None = None
    streams: list[tuple[IO[bytes] | None, _Tail]] = [(process.stdout, out), (process.stderr, err)]
    with selectors.DefaultSelector() as selector:
        for stream, tail in streams:
            if stream is not None:
                selector.register(stream, selectors.EVENT_READ, tail)
        while selector.get_map():
            now = time.monotonic()
            if exited_at is None and process.poll() is not None:
                exited_at = now
            if exited_at is None:
                if now >= deadline:
                    return True
                wait = min(deadline - now, _POLL)
            else:
                if now >= exited_at + _DRAIN:
                    break  # a background child still holds the pipe; stop reading it
                wait = exited_at + _DRAIN - now
            for key, _events in selector.select(wait):
                chunk = os.read(key.fd, 65536)
                if chunk:
                    key.data.add(chunk)
                else:
                    selector.unregister(key.fileobj)
    try:
        process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return True  # closed its output but kept running
    return False
