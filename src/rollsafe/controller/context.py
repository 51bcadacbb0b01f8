"""What a step needs while it runs: the plan, the adapters, and a way to hear requests."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rollsafe.config import Plan
from rollsafe.controller.adapters import Adapters
from rollsafe.controller.retries import RetryPolicy
from rollsafe.controller.traffic import Traffic
from rollsafe.errors import LeaseLostError
from rollsafe.journal.kinds import Kind
from rollsafe.store import Store
from rollsafe.targets import Target

Status = Literal["succeeded", "failed", "paused", "aborted"]

BASELINE_EVENT = Kind.ROLLOUT_BASELINE
"""Journaled once when a rollout first starts: the release and flags to return to."""


@dataclass(frozen=True)
class StepOutcome:
    status: Status
    result: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    rerun_on_resume: bool = False
    """For a pause: run this step again after resume (it was cut short) or go past it."""


@dataclass
class StepContext:
    store: Store
    rollout_id: str
    plan: Plan
    target: Target
    home: Path
    actor: str
    traffic: Traffic | None = None
    """The plan's router following the target, when the plan has one."""
    adapters: Adapters = field(default_factory=Adapters)
    """Where steps get a metric source (or anything else to build) from."""
    retries: RetryPolicy = field(default_factory=RetryPolicy)
    """How a step that meets a transient error runs again (`rollsafe.controller.retries`)."""
    lease_lost: threading.Event = field(default_factory=threading.Event)
    """Set when another controller took the rollout's lease (`controller/lease.py`)."""

    def check_lease(self) -> None:
        """Stop here, writing nothing more, if another controller drives the rollout now."""
        if self.lease_lost.is_set():
            raise LeaseLostError(f"rollout {self.rollout_id}: another controller holds its lease")

    carried: dict[str, Any] = field(default_factory=dict)
    """State one step leaves for the next within this run, e.g. the judge of an analysis
    that went on undecided (`rollsafe.controller.inconclusive`)."""

    def requested(self) -> str | None:
        """A pause or abort another process asked for, if any."""
        return self.store.get_rollout(self.rollout_id).requested

    def journal(self, kind: Kind, data: Mapping[str, Any]) -> None:
        """Append an entry; ``data`` is often a payload TypedDict (`rollsafe.journal.payloads`)."""
        self.store.append(kind, data, actor=self.actor, rollout_id=self.rollout_id)

    def interruption(self, request: str) -> StepOutcome:
        """The outcome for a request found while waiting, with the reason left with it."""
        return interrupted(request, self.store.get_rollout(self.rollout_id).reason)

    def sleep(self, seconds: float, *, poll: float = 0.5) -> str | None:
        """Wait, waking early for a request; returns the request if one came."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            self.check_lease()
            if request := self.requested():
                return request
            self.lease_lost.wait(min(poll, remaining))
        self.check_lease()
        return self.requested()


_STATUS_OF_REQUEST: dict[str, Status] = {
    "pause": "paused",
    "abort": "aborted",
    "rollback": "failed",
}


def interrupted(request: str, reason: str = "") -> StepOutcome:
    """The outcome of a step cut short by a request: pause, abort, or a guard's rollback."""
    status = _STATUS_OF_REQUEST.get(request, "paused")
    return StepOutcome(
        status,
        {"interrupted_by": request},
        reason=reason or f"{request} requested",
        rerun_on_resume=True,
    )
