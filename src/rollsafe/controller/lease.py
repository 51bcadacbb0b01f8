"""One controller drives a rollout at a time: a lease in the store, renewed while it works."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from rollsafe.journal import Kind
from rollsafe.store import Store
from rollsafe.support.procfs import proc_stat

DEFAULT_TTL = 15.0

log = logging.getLogger(__name__)


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
        renewed = time.monotonic()
        while not self._stop.wait(self.ttl / 3):
            try:
                if self.store.acquire_lease(self.rollout_id, self.owner, self.ttl):
                    renewed = time.monotonic()
                    continue
                reason = "another controller holds it"
            except Exception as error:  # the store unreachable: retry until the lease expires
                log.warning("cannot renew the lease on %s: %s", self.rollout_id, error)
                if time.monotonic() - renewed < self.ttl:
                    continue
                reason = f"not renewed for {self.ttl:g}s: {error}"
            self.lost.set()
            self._journal_loss(reason)
            return

    def _journal_loss(self, reason: str) -> None:
        """Journal the loss (so notifications go out); best effort, the store may be down."""
        try:
            holder = self.store.get_rollout(self.rollout_id).owner
            data = {"owner": self.owner, "holder": holder, "ttl": self.ttl, "reason": reason}
            self.store.append(
                Kind.ROLLOUT_LEASE_LOST, data, actor=self.owner, rollout_id=self.rollout_id
            )
        except Exception as error:  # a thread of its own: nothing above to catch it
            log.error(
                "lost the lease on %s (%s) and cannot journal it: %s",
                self.rollout_id,
                reason,
                error,
            )
