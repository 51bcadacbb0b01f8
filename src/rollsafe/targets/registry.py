"""One factory per ``target.type``: how the controller gets a target for any plan.

Adding a target is one entry in :data:`FACTORIES` (as
:mod:`rollsafe.metrics.registry` does for metric sources), not a branch in the
controller. A factory gets the plan's ``target`` section, the service's name,
rollsafe's home and the store address the instances it starts may need.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rollsafe.errors import RollsafeError
from rollsafe.targets.base import Target
from rollsafe.targets.command import CommandTarget
from rollsafe.targets.process import ProcessTarget

TargetFactory = Callable[[Any, str, Path, str | None], Target]


def _process(config: Any, service: str, home: Path, store: str | None) -> Target:
    return ProcessTarget(config, service=service, home=home, store=store)


def _command(config: Any, service: str, home: Path, store: str | None) -> Target:
    return CommandTarget(config, service=service, home=home)  # runs no rollsafe instances


FACTORIES: dict[str, TargetFactory] = {"process": _process, "command": _command}


def build_target(config: Any, *, service: str, home: Path, store: str | None = None) -> Target:
    """The target a plan's ``target`` section describes; ``store`` is for its instances."""
    factory = FACTORIES.get(config.type)
    if factory is None:
        raise RollsafeError(f"no target for type {config.type!r}")
    return factory(config, service, home, store)
