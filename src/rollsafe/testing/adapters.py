"""The controller's adapters made of fakes: one call wires a rollout to in-memory parts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rollsafe.config import Plan
from rollsafe.controller.adapters import Adapters, Notifier
from rollsafe.controller.traffic import Traffic
from rollsafe.routers import TrafficRouter
from rollsafe.store import Store
from rollsafe.targets import Target
from rollsafe.testing.notifiers import CapturingNotifier
from rollsafe.testing.routers import FakeRouter
from rollsafe.testing.sources import ReplaySource
from rollsafe.testing.targets import FakeTarget
from rollsafe.typing import MetricSource


def fake_adapters(
    target: FakeTarget,
    source: ReplaySource | None = None,
    router: FakeRouter | None = None,
    notifiers: Sequence[CapturingNotifier] = (),
) -> Adapters:
    """Adapters that hand the controller these fakes whatever the plan names.

    Each metric source the controller opens is ``source.fresh()`` (a source
    with no data, whose every look fails, when None). With a ``router``, the
    router follows ``target``'s instances as the plan's nginx would, and the
    front-door guard asks ``target`` whether each routed instance is healthy.
    """
    fake, replay = target, source if source is not None else ReplaySource([])

    def build_target(plan: Plan, home: Path, store_address: str | None) -> Target:
        return fake

    def build_source(plan: Plan, target: Target) -> MetricSource:
        return replay.fresh()

    def build_traffic(
        plan: Plan,
        home: Path,
        target: Target,
        store: Store | None = None,
        *,
        actor: str = "rollsafe",
    ) -> Traffic | None:
        if router is None:
            return None
        traffic = Traffic(router, fake)
        traffic.catch_up()
        return traffic

    def build_notifiers(
        plan: Plan, on_failure: Callable[[dict[str, Any]], None] | None = None
    ) -> list[Notifier]:
        return list(notifiers)

    def front_door(routed: TrafficRouter, health_path: str, timeout: float) -> list[str]:
        split = routed.split
        if split is None or routed.in_maintenance:
            return []
        return fake.problems_at([*split.stable, *split.canary])

    return Adapters(build_target, build_source, build_traffic, build_notifiers, front_door)
