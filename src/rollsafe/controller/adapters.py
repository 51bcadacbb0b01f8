"""Build the adapters a plan names: its target, its metric source, its router, its notifiers.

:class:`Adapters` bundles these factories; the controller and every step reach
them through it (``context.adapters``), so a test, or a user testing a plan,
hands the controller fakes instead (``rollsafe.testing``), as Flagger injects
its factories and httpx takes a transport.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from rollsafe.config import Plan
from rollsafe.config.routers import NginxRouter as NginxRouterConfig
from rollsafe.controller.traffic import Traffic
from rollsafe.errors import RollsafeError
from rollsafe.journal import JournalEntry
from rollsafe.metrics import SourceNeeds
from rollsafe.metrics import build_source as build_metric_source
from rollsafe.notify import build_notifications
from rollsafe.routers import NginxRouter, TrafficRouter
from rollsafe.routers.liveness import front_door_problems
from rollsafe.store import Store
from rollsafe.store.records import RouterRecord
from rollsafe.targets import ProcessTarget, Target
from rollsafe.targets.registry import build_target as target_for
from rollsafe.typing import MetricSource

log = logging.getLogger(__name__)


def build_target(plan: Plan, home: Path, store_address: str | None = None) -> Target:
    """``store_address`` is handed to the instances a process target starts (ROLLSAFE_STORE)."""
    return target_for(plan.target, service=plan.service, home=home, store=store_address)


def build_source(plan: Plan, target: Target) -> MetricSource:
    """A fresh source: counters start from what it first sees, so each use gets its own."""
    return build_metric_source(plan.metrics, _source_needs(plan, target))


def _source_needs(plan: Plan, target: Target) -> SourceNeeds:
    needs = SourceNeeds(target.endpoints, target.current_release)
    router = build_router(plan, target.home) if isinstance(target, ProcessTarget) else None
    if router is None or not isinstance(target, ProcessTarget):
        return needs
    instances = target.instances

    def releases() -> dict[str, str]:
        return {f"127.0.0.1:{instance.port}": instance.release for instance in instances()}

    return replace(needs, router_records=router.records_log, releases=releases)


def build_router(plan: Plan, home: Path) -> NginxRouter | None:
    """The plan's router, its files in ``<home>/routers/<service>``; None without one."""
    if plan.router is None:
        return None
    return NginxRouter(plan.router, home=home / "routers" / plan.service)


def build_traffic(
    plan: Plan, home: Path, target: Target, store: Store | None = None, *, actor: str = "rollsafe"
) -> Traffic | None:
    """The router fronting ``target``, wired to follow its instances; None without one.

    With a ``store``, the plan's ``router:`` is recorded under the target's root, and
    a plan without one gets the router recorded there: whichever plan moves the
    instances, the router moves with them. The router is pointed at the instances
    running now before anything else happens (see :meth:`Traffic.catch_up`).
    """
    if not isinstance(target, ProcessTarget):
        return None  # plans are checked at load: a router comes with a process target
    router = _fronting(plan, home, target, store, actor)
    if router is None:
        return None
    traffic = Traffic(router, target)
    traffic.catch_up()
    return traffic


def _fronting(
    plan: Plan, home: Path, target: ProcessTarget, store: Store | None, actor: str
) -> NginxRouter | None:
    root = str(target.root)
    recorded = store.get_router(root) if store is not None else None
    router = build_router(plan, home)
    if router is None:
        return None if recorded is None else router_of(recorded)
    if store is not None:
        if recorded is not None and recorded.home != str(router.home):
            _retire(router_of(recorded))  # one router per set of instances: no stale second one
        config = router.config.model_dump(mode="json")
        record = RouterRecord(root, plan.service, "nginx", str(router.home), config, 0.0, actor)
        store.put_router(record, actor=actor)
    return router


def router_of(record: RouterRecord) -> NginxRouter:
    """The router a store record describes."""
    return NginxRouter(NginxRouterConfig.model_validate(record.config), home=Path(record.home))


def _retire(router: NginxRouter) -> None:
    try:
        router.stop()
    except RollsafeError as error:
        log.warning("cannot stop the router in %s that fronted the target: %s", router.home, error)


class Notifier(Protocol):
    """Hears every journal entry of a rollout (beside the work), closed when the run ends."""

    def __call__(self, entry: JournalEntry) -> None: ...
    def close(self) -> None: ...


class TrafficFactory(Protocol):
    """Builds the router fronting a target, as :func:`build_traffic` does."""

    def __call__(
        self,
        plan: Plan,
        home: Path,
        target: Target,
        store: Store | None = None,
        *,
        actor: str = "rollsafe",
    ) -> Traffic | None: ...


class NotifierFactory(Protocol):
    """Builds a plan's notifiers; ``on_failure`` hears of each undelivered notification."""

    def __call__(
        self, plan: Plan, on_failure: Callable[[dict[str, Any]], None] | None = None
    ) -> list[Notifier]: ...


def build_notifiers(
    plan: Plan, on_failure: Callable[[dict[str, Any]], None] | None = None
) -> list[Notifier]:
    """The plan's channels (Slack, Teams, Discord, webhooks), sending from threads of their own."""
    if not plan.notify:
        return []
    return [build_notifications(plan.notify, plan.service, on_failure)]


@dataclass(frozen=True)
class Adapters:
    """The factories the controller builds its adapters with; each defaults to the real one.

    Replace any of them (``Adapters(source=...)``) to run the state machine on
    fakes: nothing else in the controller names a concrete adapter.
    """

    target: Callable[[Plan, Path, str | None], Target] = build_target
    """The plan's target; the third argument is the store's address for its instances."""
    source: Callable[[Plan, Target], MetricSource] = build_source
    """A fresh metric source for one analysis, the guards or one verification."""
    traffic: TrafficFactory = build_traffic
    notifiers: NotifierFactory = build_notifiers
    front_door: Callable[[TrafficRouter, str, float], list[str]] = front_door_problems
    """What keeps users from being served through the router (the front-door guard)."""
