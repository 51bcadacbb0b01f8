"""A canary release's share of traffic: the router's split kept in step with the target.

The process target starts instances on new ports at every deploy, so the router
must follow each change of the instance set, before a replaced instance stops
(the target calls :meth:`Traffic.sync` then, under its lock; the router returns
once no request it holds can still go to a server it took out). When no stable
instance is left (stopped for a restore), the router shows its maintenance
page (503 with ``Retry-After``) until instances are healthy again. The canary's
weight lives in the router's own state, so a controller resuming after a crash
finds it where the last one left it.
"""

from __future__ import annotations

import logging
from typing import Any

from rollsafe.errors import TargetError
from rollsafe.routers import MAINTENANCE_RETRY_AFTER, TrafficRouter
from rollsafe.targets import CanaryTarget, Instance

log = logging.getLogger(__name__)


class Traffic:
    def __init__(self, router: TrafficRouter, target: CanaryTarget) -> None:
        self.router = router
        self.target = target
        target.on_change = self.sync

    @property
    def weight(self) -> int:
        """The canary's percentage of requests now (0 without a canary)."""
        split = self.router.split
        return split.canary_weight if split is not None else 0

    def sync(self) -> None:
        """Point the router at the instances ready now, keeping the canary's weight."""
        self._apply(self.weight)

    def catch_up(self) -> None:
        """Point the router at the instances running now (its maintenance page if none):
        whatever moved them while no one told the router (a plan without it, a crash)
        is corrected here.

        A failure is logged, not raised: a controller that cannot reach the router
        must still be able to roll back (and the front-door guard reports it).
        """
        try:
            self.target.announce()  # under the target's lock: no deploy interleaves
        except TargetError as error:
            log.warning("the router could not follow the instances: %s", error)

    def shift(self, weight: int) -> dict[str, Any]:
        """Send ``weight`` percent of requests to the canary instances; returns the split."""
        return self._apply(weight)

    def remove_canary(self) -> str | None:
        """Traffic back to the stable instances, then the canary stopped; its release."""
        release = self.target.canary_release()
        self._apply(0)
        self.target.stop_canary()
        return release

    def _apply(self, weight: int) -> dict[str, Any]:
        stable = [_address(i) for i in self.target.stable_instances()]
        canary = [_address(i) for i in self.target.canary_instances()]
        if not stable:
            # Nothing stable serves (stopped for a restore): a clear 503 to retry, never
            # a 502, until instances come back and the target calls again. A router that
            # is not running stays stopped (the service is down, or being taken down).
            self.router.set_maintenance(MAINTENANCE_RETRY_AFTER)
            return {"stable": [], "canary": canary, "weight": self.weight, "applied": False}
        if not canary:
            weight = 0
        # The split first, then the start: a router starting now serves it from its first
        # request (no "no split set yet" 503s).
        self.router.set_weights(stable, canary, weight)
        self.router.start()
        return {"stable": stable, "canary": canary, "weight": weight, "applied": True}


def _address(instance: Instance) -> str:
    return f"127.0.0.1:{instance.port}"
