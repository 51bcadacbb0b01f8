"""Targets: where releases run. ``ProcessTarget`` runs them as local processes,
``CommandTarget`` deploys them by running commands (VMs, a process manager).

This package imports only ``rollsafe.config``, ``rollsafe.errors``,
``rollsafe.typing``, ``rollsafe.support`` and third-party packages. Which class a
plan's ``target.type`` gets is :data:`rollsafe.targets.registry.FACTORIES`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rollsafe.support.lazy import lazy_attributes

if TYPE_CHECKING:
    from rollsafe.targets.base import CanaryTarget, Target
    from rollsafe.targets.command import CommandError, CommandHealthError, CommandTarget
    from rollsafe.targets.execute import CommandResult
    from rollsafe.targets.health import HealthReport, InstanceHealth
    from rollsafe.targets.process import ProcessTarget
    from rollsafe.targets.procs import MAINTENANCE_MARKER
    from rollsafe.targets.state import Instance

# Each name loads its module on first use (PEP 562): the shop's
# `python -m rollsafe.demo.shop` needs only MAINTENANCE_MARKER, not the plan
# models and httpx that the targets' health checks bring.
_HOMES = {
    "CanaryTarget": "rollsafe.targets.base",
    "Target": "rollsafe.targets.base",
    "CommandError": "rollsafe.targets.command",
    "CommandHealthError": "rollsafe.targets.command",
    "CommandTarget": "rollsafe.targets.command",
    "CommandResult": "rollsafe.targets.execute",
    "HealthReport": "rollsafe.targets.health",
    "InstanceHealth": "rollsafe.targets.health",
    "ProcessTarget": "rollsafe.targets.process",
    "MAINTENANCE_MARKER": "rollsafe.targets.procs",
    "Instance": "rollsafe.targets.state",
}


__getattr__ = lazy_attributes(__name__, _HOMES)

__all__ = [
    "MAINTENANCE_MARKER",
    "CanaryTarget",
    "CommandError",
    "CommandHealthError",
    "CommandResult",
    "CommandTarget",
    "HealthReport",
    "Instance",
    "InstanceHealth",
    "ProcessTarget",
    "Target",
]
