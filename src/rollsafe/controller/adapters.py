"""Build the adapters a plan names: its target, its metric source and its router."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rollsafe.config import CommandTarget as CommandTargetConfig
from rollsafe.config import Plan
from rollsafe.controller.traffic import Traffic
from rollsafe.metrics import SourceNeeds
from rollsafe.metrics import build_source as build_metric_source
from rollsafe.routers import NginxRouter
from rollsafe.targets import CommandTarget, ProcessTarget, Target
from rollsafe.typing import MetricSource


def build_target(plan: Plan, home: Path, store_address: str | None = None) -> Target:
    """``store_address`` is handed to the instances a process target starts (ROLLSAFE_STORE)."""
    if isinstance(plan.target, CommandTargetConfig):
        return CommandTarget(plan.target, service=plan.service, home=home)
    return ProcessTarget(plan.target, service=plan.service, home=home, store=store_address)


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


def build_traffic(plan: Plan, home: Path, target: Target) -> Traffic | None:
    """The router of a plan with one, wired to follow ``target``'s instances."""
    router = build_router(plan, home)
    if router is None or not isinstance(target, ProcessTarget):
        return None  # plans are checked at load: a router comes with a process target
    return Traffic(router, target)
