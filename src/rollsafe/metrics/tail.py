"""Follow a log file's new lines by its inode, across reopen, rotation and truncation.

A :class:`LogTail` keeps the file open and remembers its own offset, so it reads
each byte once, whatever else happens to the path:

- **reopen and reload**: nginx reopens its logs on ``SIGHUP``/``SIGUSR1``; the
  path still names the same inode, and reading goes on where it was;
- **rotation by rename** (``logrotate``'s default, then ``nginx -s reopen``):
  once the path names another inode, the old file is read to its end, kept open
  and read again at each :meth:`LogTail.read` until it has been quiet for
  ``retire_after`` seconds (workers write to it until they reopen), and the new
  file is read from its start;
- **truncation in place** (``copytruncate``): the file is shorter than the
  offset, so reading restarts at 0; what was written between the last read and
  the truncation is lost (counted in :attr:`LogTail.truncations`);
- **a path that does not exist yet**: read from its start once it appears.

Only complete lines are returned. A line still being written (no newline yet)
waits in a buffer and is completed by a later read. A line longer than
``max_line`` is dropped (:attr:`LogTail.oversized`) and reading resumes after
its newline, so memory stays bounded by ``chunk`` + ``max_line`` per open file,
whatever is written and however fast.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

CHUNK = 1 << 20
"""Bytes read per system call."""
MAX_LINE = 64 * 1024
RETIRE_AFTER = 10.0
MAX_RETIRED = 4
"""Rotated files still followed at once; the oldest is closed first."""


class _OpenFile:
    """One inode being read: its descriptor, where reading is, and an unfinished line."""

    def __init__(self, fd: int, offset: int, *, mid_line: bool, now: float) -> None:
        self.fd = fd
        self.offset = offset
        self.partial = b""
        self.skipping = mid_line
        """Dropping bytes up to the next newline: a line begun before us, or too long."""
        self.changed_at = now
        st = os.fstat(fd)
        self.identity = (st.st_dev, st.st_ino)

    def close(self) -> None:
        os.close(self.fd)


class LogTail:
    """The complete lines appended to ``path`` since this tail was created (see module doc).

    ``from_start`` reads what the file holds already, too. I/O errors other than
    the path being absent propagate as :class:`OSError`.
    """

    def __init__(
        self,
        path: Path,
        *,
        from_start: bool = False,
        chunk: int = CHUNK,
        max_line: int = MAX_LINE,
        retire_after: float = RETIRE_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.chunk = chunk
        self.max_line = max_line
        self.retire_after = retire_after
        self.clock = clock
        self.truncations = 0
        self.rotations = 0
        self.oversized = 0
        self._retired: list[_OpenFile] = []
        self._current = self._open(at_end=not from_start)

    @property
    def following(self) -> bool:
        """Whether a file is open: False until the path first exists."""
        return self._current is not None

    def read(self) -> Iterator[bytes]:
        """Every complete line (without its newline) written since the last read."""
        now = self.clock()
        for old in list(self._retired):
            yield from self._drain(old, now)
            if now - old.changed_at >= self.retire_after:
                self._retired.remove(old)
                old.close()
        if self._current is None:
            self._current = self._open(at_end=False)
            if self._current is None:
                return
        yield from self._drain(self._current, now)
        replacement = self._replacement(self._current)
        if replacement is not None:
            self.rotations += 1
            self._retire(self._current)
            self._current = replacement
            yield from self._drain(replacement, now)

    def close(self) -> None:
        for file in [*self._retired, *([self._current] if self._current else [])]:
            file.close()
        self._retired.clear()
        self._current = None

    def _open(self, *, at_end: bool) -> _OpenFile | None:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            offset = os.fstat(fd).st_size if at_end else 0
            # Starting mid-file: a line whose start came before us is not ours to count.
            mid_line = offset > 0 and os.pread(fd, 1, offset - 1) != b"\n"
            return _OpenFile(fd, offset, mid_line=mid_line, now=self.clock())
        except OSError:
            os.close(fd)
            raise

    def _replacement(self, file: _OpenFile) -> _OpenFile | None:
        """The file now at the path, if it is another inode than ``file``."""
        try:
            st = os.stat(self.path)
        except OSError as error:
            if error.errno in (errno.ENOENT, errno.ENOTDIR):
                return None  # renamed away, its successor not created yet
            raise
        if (st.st_dev, st.st_ino) == file.identity:
            return None
        return self._open(at_end=False)

    def _retire(self, file: _OpenFile) -> None:
        file.changed_at = self.clock()  # its writers may not have reopened yet: give them time
        self._retired.append(file)
        while len(self._retired) > MAX_RETIRED:
            self._retired.pop(0).close()

    def _drain(self, file: _OpenFile, now: float) -> Iterator[bytes]:
        if os.fstat(file.fd).st_size < file.offset:
            self.truncations += 1
            file.offset, file.partial, file.skipping = 0, b"", False
        while True:
            data = os.pread(file.fd, self.chunk, file.offset)
            if not data:
                return
            file.offset += len(data)
            file.changed_at = now
            yield from self._lines(file, data)

    def _lines(self, file: _OpenFile, data: bytes) -> Iterator[bytes]:
        if file.skipping:
            newline = data.find(b"\n")
            if newline < 0:
                return
            file.skipping = False
            data = data[newline + 1 :]
        lines = (file.partial + data).split(b"\n") if file.partial else data.split(b"\n")
        file.partial = lines.pop()
        if len(file.partial) > self.max_line:
            self.oversized += 1
            file.partial, file.skipping = b"", True
        limit = self.max_line
        kept = [line for line in lines if len(line) <= limit]
        self.oversized += len(lines) - len(kept)
        yield from kept
