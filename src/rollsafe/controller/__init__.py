"""The rollout state machine, its steps, analysis gates and rollback policy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rollsafe.support.lazy import lazy_attributes

if TYPE_CHECKING:
    from rollsafe.controller.daemon import ControllerLoop
    from rollsafe.controller.runner import Controller

# Each name loads its module on first use (PEP 562): `rollout status` reads drill
# records from rollsafe.controller.drill_records without loading the whole runner.
_HOMES = {
    "ControllerLoop": "rollsafe.controller.daemon",
    "Controller": "rollsafe.controller.runner",
}


__getattr__ = lazy_attributes(__name__, _HOMES)

__all__ = ["Controller", "ControllerLoop"]
