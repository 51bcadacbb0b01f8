"""What the controller needs of any target (process, command, ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from rollsafe.targets.health import HealthReport
from rollsafe.targets.state import Instance


class Target(Protocol):
    """Where releases run: deploy one, say which is live, check health, stop for a restore."""

    def current_release(self) -> str | None: ...
    def previous_release(self) -> str | None: ...
    def deploy(self, release: str) -> bool:
        """Make ``release`` live and healthy; False when it already was (idempotent)."""
        ...

    def endpoints(self) -> list[str]: ...
    def check_health(self) -> HealthReport: ...
    def stop(self) -> None: ...
    def set_maintenance(self, on: bool) -> None: ...


class CanaryTarget(Target, Protocol):
    """A target that can also run a canary release beside the stable one (for a router)."""

    on_change: Callable[[], None] | None
    """Called whenever the ready instances changed, before a replaced one stops."""

    def stable_instances(self) -> list[Instance]: ...
    def canary_instances(self) -> list[Instance]: ...
    def canary_release(self) -> str | None: ...
    def deploy_canary(self, release: str) -> bool:
        """Run ``release`` on the canary instances; False when it already did."""
        ...

    def stop_canary(self) -> bool:
        """Stop the canary instances; False when there were none."""
        ...

    def announce(self) -> None:
        """Call ``on_change`` for the instances ready now (a listener that missed changes)."""
        ...
