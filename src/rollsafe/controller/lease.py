"""One controller drives a rollout at a time: a lease in the store, renewed while it works."""

from __future__ import annotations

import os
import socket
import threading

from rollsafe.store import Store
from rollsafe.support.procfs import proc_stat

DEFAULT_TTL = 15.0


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_dead(owner: str | None) -> bool:
    """True when ``owner`` is a process on this host that no longer exists.

    An owner on another host is never presumed dead; its lease must expire.
    """
    if not owner:
        return True
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(int(pid))


def _is_zombie(pid: int) -> bool:
    fields = proc_stat(pid)
    return fields is not None and fields[0] == "Z"


class LeaseKeeper:
    """Renews a held lease from a background thread until stopped."""

    def __init__(self, store: Store, rollout_id: str, owner: str, ttl: float = DEFAULT_TTL):
        self.store, self.rollout_id, self.owner, self.ttl = store, rollout_id, owner, ttl
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.store.release_lease(self.rollout_id, self.owner)

    def _run(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            if not self.store.acquire_lease(self.rollout_id, self.owner, self.ttl):
                self.lost.set()
                return
