"""The process's open-file budget: how many streams it affords, and what happens past it.

Every open stream holds a socket, and a socket is a file descriptor. Past the
process's ``RLIMIT_NOFILE`` (``ulimit -n``), ``accept`` fails with EMFILE: clients
wait in the listen backlog, and asyncio logs a traceback per failed ``accept``,
up to the backlog's length (4,096) per attempt, each second (95 MB of log in 25 s).
So the stream limit is derived from the open-file limit, leaving room for what
else needs a descriptor (the store's files and connections, the listening socket,
the event loop, other requests and the 503s that refuse extra streams).

The descriptors can still run out: asyncio accepts up to the backlog's length of
connections in one go, faster than the 503s close them. Two things then keep the
server responsive and its log short. The listening socket (`ListeningSocket`)
ends asyncio's accept loop at the first EMFILE, so one retry is scheduled per
second instead of one per remaining backlog slot (they multiplied: each retry
started another loop of failures). And the event loop's exception handler
(`AcceptErrors`) reports those failures as one line every ``interval`` seconds.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

RESERVED = 64
"""Descriptors kept for everything but streams, plus one eighth of the limit (`stream_limit`).

An idle server uses about 20: three store connections (a SQLite database has
three files open per connection), the listening socket, the event loop's own.
The rest answer other requests and the 503s refusing streams beyond the limit.
"""

_OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def open_file_limit() -> int | None:
    """The process's soft ``RLIMIT_NOFILE``, or None when unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def stream_limit(requested: int, open_files: int | None) -> int:
    """The streams a process with ``open_files`` descriptors can hold, at most ``requested``."""
    if open_files is None:
        return requested
    affordable = open_files - RESERVED - open_files // 8
    return max(1, min(requested, affordable))


class ListeningSocket(socket.socket):
    """A listening socket whose ``accept`` stops asyncio's accept loop after EMFILE.

    On EMFILE asyncio stops watching the socket and schedules a retry a second
    later, but goes on calling ``accept`` for the rest of its loop (CPython 3.11),
    scheduling one more retry (and logging one more traceback) per call. Here the
    call after an EMFILE says "nothing to accept", which ends that loop.
    """

    _exhausted = False

    def accept(self) -> tuple[socket.socket, Any]:
        if self._exhausted:
            self._exhausted = False
            raise BlockingIOError(errno.EAGAIN, "out of file descriptors; retrying later")
        try:
            return super().accept()
        except OSError as error:
            self._exhausted = error.errno in _OUT_OF_DESCRIPTORS
            raise


def listening_socket(host: str, port: int) -> ListeningSocket:
    """A `ListeningSocket` bound to ``host``:``port`` (0: any free port); OSError if taken."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    # A name with both (localhost): IPv4, where clients told 127.0.0.1 will look.
    found.sort(key=lambda info: info[0] != socket.AF_INET)
    family, kind, proto, _, address = found[0]
    sock = ListeningSocket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


class AcceptErrors:
    """An event loop exception handler that turns EMFILE at ``accept`` into one line per interval.

    Everything else goes to the handler it replaces (asyncio's default: a traceback).
    """

    def __init__(
        self,
        previous: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None,
        describe: Callable[[], str],
        *,
        interval: float = 10.0,
    ) -> None:
        """``describe`` says what holds the descriptors (the open streams), for the report."""
        self._previous = previous
        self._describe = describe
        self._interval = interval
        self._failed = 0
        self._next_report = 0.0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if not (isinstance(error, OSError) and error.errno in _OUT_OF_DESCRIPTORS):
            if self._previous is not None:
                self._previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        self._failed += 1
        now = time.monotonic()
        if now < self._next_report:
            return
        log.warning(
            "cannot accept connections: %s (%d failed accepts since the last report; open-file"
            " limit %s, %s); new connections wait in the listen backlog",
            error.strerror, self._failed, open_file_limit() or "unlimited", self._describe(),
        )  # fmt: skip
        self._failed = 0
        self._next_report = now + self._interval
