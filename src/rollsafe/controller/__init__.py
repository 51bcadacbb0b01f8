"""The rollout state machine, its steps, analysis gates and rollback policy."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rollsafe.controller.daemon import ControllerLoop
    from rollsafe.controller.runner import Controller

# Each name loads its module on first use (PEP 562): `rollout status` reads drill
# records from rollsafe.controller.drill_records without loading the whole runner.
_HOMES = {
    "ControllerLoop": "rollsafe.controller.daemon",
    "Controller": "rollsafe.controller.runner",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


__all__ = ["Controller", "ControllerLoop"]
