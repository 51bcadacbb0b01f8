"""Fakes of rollsafe's adapters, for rollsafe's own tests and for testing your plans.

Hand :func:`fake_adapters` to a :class:`~rollsafe.controller.runner.Controller`
over a real store and a rollout runs its real state machine, journal and
rollback ladder against an in-memory target, router and notifier, with judge
verdicts computed from replayed observations (docs/architecture.md,
"Testing your plan with rollsafe.testing").
"""

from rollsafe.testing.adapters import fake_adapters
from rollsafe.testing.notifiers import CapturingNotifier
from rollsafe.testing.routers import FakeRouter
from rollsafe.testing.sources import ReplaySource, steady
from rollsafe.testing.targets import FakeTarget

__all__ = [
    "CapturingNotifier",
    "FakeRouter",
    "FakeTarget",
    "ReplaySource",
    "fake_adapters",
    "steady",
]
