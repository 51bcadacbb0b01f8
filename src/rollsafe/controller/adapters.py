"""Build the adapters a plan names: its target and its metric source."""

from __future__ import annotations

from pathlib import Path

from rollsafe.config import CommandTarget as CommandTargetConfig
from rollsafe.config import Plan, PrometheusMetrics
from rollsafe.metrics import PrometheusSource, ScrapeSource
from rollsafe.targets import CommandTarget, ProcessTarget, Target
from rollsafe.typing import MetricSource


def build_target(plan: Plan, home: Path, store_address: str | None = None) -> Target:
    """``store_address`` is handed to the instances a process target starts (ROLLSAFE_STORE)."""
    if isinstance(plan.target, CommandTargetConfig):
        return CommandTarget(plan.target, service=plan.service, home=home)
    return ProcessTarget(plan.target, service=plan.service, home=home, store=store_address)


def build_source(plan: Plan, target: Target) -> MetricSource:
    """A fresh source: counters start from what it first sees, so each use gets its own."""
    if isinstance(plan.metrics, PrometheusMetrics):
        return PrometheusSource(plan.metrics)
    return ScrapeSource(plan.metrics, target.endpoints)
