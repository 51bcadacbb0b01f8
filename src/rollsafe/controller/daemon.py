"""``rollsafe controller run``: drive whatever rollouts the store holds, beside other controllers.

Each controller polls the store for rollouts nobody drives (pending, running or
rolling back, with no owner, an expired lease, or an owner process that died on
this host), claims one with the lease, and drives it on a thread of its own.
The lease makes the claim exclusive; the journal-first steps make a takeover
safe: the new owner continues from the step the store says was running.

What follows the end of a rollout (the CLI writes an incident report) is the
caller's ``on_ended``: reports sit in a layer above the controller.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rollsafe.controller.drill_records import is_drill
from rollsafe.controller.lease import DEFAULT_TTL, owner_id, owner_is_dead
from rollsafe.controller.runner import Controller
from rollsafe.errors import ConflictError, RollsafeError
from rollsafe.journal.kinds import Kind
from rollsafe.store import Rollout, RolloutState, Store

log = logging.getLogger(__name__)

CLAIMABLE = {RolloutState.PENDING, RolloutState.RUNNING, RolloutState.ROLLING_BACK}


def unowned(rollout: Rollout, now: float) -> bool:
    """Nobody is driving this rollout: no owner, a lapsed lease, or a dead owner process.

    A rollback drill is never claimed: resumed here, its steps would end promoted and
    leave the candidate live. ``rollsafe drill`` drives it; one cut short is rolled back
    by a person (``rollsafe rollout abort``).
    """
    if rollout.state not in CLAIMABLE or is_drill(rollout):
        return False
    return (
        rollout.owner is None or (rollout.lease_until or 0.0) <= now or owner_is_dead(rollout.owner)
    )


class ControllerLoop:
    def __init__(
        self,
        store: Store,
        home: Path,
        *,
        owner: str | None = None,
        max_concurrent: int = 8,
        poll_interval: float = 1.0,
        lease_ttl: float = DEFAULT_TTL,
        on_ended: Callable[[Rollout], None] | None = None,
    ) -> None:
        """``on_ended`` gets each rollout this loop drove to its end (or to a pause),
        on the rollout's thread; not one that another controller took over."""
        self.store = store
        self.home = home
        self.owner = owner or owner_id()
        self.max_concurrent = max_concurrent
        self.poll_interval = poll_interval
        self.lease_ttl = lease_ttl
        self.on_ended = on_ended
        self.stop = threading.Event()
        self._active: dict[str, threading.Thread] = {}

    def run(self, *, once: bool = False) -> None:
        """Claim and drive rollouts until stopped (or, with ``once``, until none is left)."""
        self.store.append(Kind.CONTROLLER_STARTED, {"owner": self.owner}, actor=self.owner)
        try:
            while not self.stop.is_set():
                self._reap()
                claimed = self._claim_some()
                if once and not claimed and not self._active:
                    return
                self.stop.wait(self.poll_interval)
        finally:
            # Rollouts still in flight are left to their leases: a controller that
            # stops mid-step is like one that crashed, and another one resumes them.
            self.store.append(
                Kind.CONTROLLER_STOPPED,
                {"owner": self.owner, "left_in_flight": sorted(self._active)},
                actor=self.owner,
            )

    def _reap(self) -> None:
        for rollout_id, thread in list(self._active.items()):
            if not thread.is_alive():
                del self._active[rollout_id]

    def _claim_some(self) -> int:
        now = time.time()
        claimed = 0
        for rollout in sorted(self.store.list_rollouts(limit=1000), key=lambda r: r.created_at):
            if len(self._active) >= self.max_concurrent:
                break
            if rollout.id in self._active or not unowned(rollout, now):
                continue
            dead = rollout.owner if rollout.owner and owner_is_dead(rollout.owner) else None
            if not self.store.acquire_lease(
                rollout.id, self.owner, self.lease_ttl, take_over_from=dead
            ):
                continue  # another controller got there first
            thread = threading.Thread(
                target=self._drive, args=(rollout.id,), name=f"rollout-{rollout.id}", daemon=True
            )
            self._active[rollout.id] = thread
            thread.start()
            claimed += 1
        return claimed

    def _drive(self, rollout_id: str) -> None:
        controller = Controller(self.store, self.home, owner=self.owner, lease_ttl=self.lease_ttl)
        try:
            rollout = controller.run(rollout_id)
            log.info("rollout %s ended %s", rollout_id, rollout.state)
            if self.on_ended is not None:
                self.on_ended(rollout)
        except ConflictError as error:
            log.info("rollout %s taken by another controller: %s", rollout_id, error)
        except RollsafeError as error:
            log.error("rollout %s could not be driven: %s", rollout_id, error)
