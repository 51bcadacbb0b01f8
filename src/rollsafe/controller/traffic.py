"""A canary release's share of traffic: the router's split kept in step with the target.

The process target starts instances on new ports at every deploy, so the router
must follow each change of the instance set, before a replaced instance stops
(the target calls :meth:`Traffic.sync` then, under its lock). The canary's
weight lives in the router's own state, so a controller resuming after a crash
finds it where the last one left it.
"""

from __future__ import annotations

from typing import Any

from rollsafe.routers import TrafficRouter
from rollsafe.targets import CanaryTarget, Instance


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
            # Nothing stable serves (stopped for a restore): the split in force stays
            # until instances come back and the target calls again.
            return {"stable": [], "canary": canary, "weight": self.weight, "applied": False}
        if not canary:
            weight = 0
        self.router.start()
        self.router.set_weights(stable, canary, weight)
        return {"stable": stable, "canary": canary, "weight": weight, "applied": True}


def _address(instance: Instance) -> str:
    return f"127.0.0.1:{instance.port}"
