"""The alternative transport measured against the file: nginx's ``syslog:server=unix:...``.

nginx sends each record as one datagram (``<PRI>TIMESTAMP nginx: {json}``) to
a unix socket this source binds. ``thread=False`` reads the datagrams at each
look, as the controller looks; ``thread=True`` reads them as they come in a
thread of its own. Records are counted by a :class:`RouterSource`'s own
counting, so both transports count alike.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

from rollsafe.config import RouterMetrics
from rollsafe.metrics import RouterSource
from rollsafe.typing import Observation


class SyslogSource:
    def __init__(self, path: Path, *, thread: bool) -> None:
        self.path = path
        path.unlink(missing_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        os.chmod(path, 0o666)  # noqa: S103 - nginx workers run as nobody under a root master
        unused = path.with_name("no-records.log")
        unused.write_bytes(b"")
        self.counter = RouterSource(RouterMetrics(), unused)  # counts; reads nothing itself
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if thread:
            self._thread = threading.Thread(target=self._receive, daemon=True)
            self._thread.start()
        else:
            self.sock.setblocking(False)

    def observe(self, t: float) -> list[Observation]:
        if self._thread is None:
            while True:
                try:
                    self._count(self.sock.recv(65536))
                except BlockingIOError:
                    break
        with self._lock:
            return self.counter.observe(t)

    def close(self) -> None:
        self.sock.close()
        self.counter.close()

    def _receive(self) -> None:
        while True:
            try:
                datagram = self.sock.recv(65536)
            except OSError:
                return
            with self._lock:
                self._count(datagram)

    def _count(self, datagram: bytes) -> None:
        self.counter._count(datagram[datagram.find(b"{") :])  # the same counting as the file
