"""The rollout state machine, its steps, analysis gates and rollback policy."""

from rollsafe.controller.daemon import ControllerLoop
from rollsafe.controller.runner import Controller

__all__ = ["Controller", "ControllerLoop"]
