"""The rollout state machine, its steps, analysis gates and rollback policy."""

from rollsafe.controller.runner import Controller

__all__ = ["Controller"]
