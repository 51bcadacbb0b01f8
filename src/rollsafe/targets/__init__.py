"""Targets: where releases run. ``ProcessTarget`` runs them as local processes,
``CommandTarget`` deploys them by running commands (VMs, a process manager).

This package imports only ``rollsafe.config``, ``rollsafe.errors``,
``rollsafe.typing``, ``rollsafe.support`` and third-party packages. Which class a
plan's ``target.type`` gets is :data:`rollsafe.targets.registry.FACTORIES`.
"""

from rollsafe.targets.base import CanaryTarget, Target
from rollsafe.targets.command import CommandError, CommandHealthError, CommandTarget
from rollsafe.targets.execute import CommandResult
from rollsafe.targets.health import HealthReport, InstanceHealth
from rollsafe.targets.process import ProcessTarget
from rollsafe.targets.procs import MAINTENANCE_MARKER
from rollsafe.targets.state import Instance

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
