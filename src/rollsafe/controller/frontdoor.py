"""The front-door guard: a critical guard on what users reach through the router.

While a router fronts the target, every second it checks that each server the
router sends requests to answers its health check, and that a request through
the router gets no 5xx (:func:`~rollsafe.routers.liveness.front_door_problems`).
Two failing looks in a row trip it (one may be a replaced instance stopping
between reading the split and probing it): it is journaled like any guard and
leaves a ``rollback`` request, so dead instances under the router are caught
within seconds. It needs no metric source, so it works when metrics are blind.
"""

from __future__ import annotations

import threading
import time

from rollsafe.config.plan import ProcessTarget as ProcessTargetConfig
from rollsafe.controller.context import StepContext
from rollsafe.errors import RollsafeError
from rollsafe.guards import GuardEvent
from rollsafe.journal.kinds import Kind, guard_kind
from rollsafe.journal.payloads import GuardEvidence

GUARD = "front-door"
INTERVAL = 1.0
LOOKS = 2
"""Consecutive failing looks that trip the guard."""


class FrontDoorWatch:
    """Runs the front-door guard in a thread while the block runs (nothing without a router)."""

    def __init__(
        self, context: StepContext, *, interval: float = INTERVAL, looks: int = LOOKS
    ) -> None:
        self.context = context
        self.interval = interval
        self.looks = looks
        self.tripped: GuardEvent | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="front-door", daemon=True)

    def __enter__(self) -> FrontDoorWatch:
        if self.context.traffic is not None and isinstance(
            self.context.plan.target, ProcessTargetConfig
        ):
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        context = self.context
        assert context.traffic is not None
        assert isinstance(context.plan.target, ProcessTargetConfig)
        router, health = context.traffic.router, context.plan.target.health
        started = time.monotonic()
        failing = 0
        while not self._stop.wait(self.interval):
            try:
                problems = context.adapters.front_door(router, health.path, health.timeout)
            except RollsafeError as error:  # the router's state unreadable: users may be cut off
                problems = [str(error)]
            failing = failing + 1 if problems else 0
            if failing >= self.looks:
                self._trip(round(time.monotonic() - started, 3), problems)
                return

    def _trip(self, t: float, problems: list[str]) -> None:
        evidence: GuardEvidence = {
            "metric": "front_door",
            "value": len(problems),
            "threshold": 0,
            "unit": "problems reaching the service through the router",
            "for": self.interval * (self.looks - 1),
            "window": self.interval * self.looks,
            "arm": "all",
            "problems": problems,
        }
        for kind in ("firing", "tripped"):
            event = GuardEvent(kind, GUARD, "critical", t, evidence)
            self.context.journal(guard_kind(kind), event.to_dict())
        self.tripped = event
        reason = f"guard {GUARD} (critical) tripped: " + "; ".join(problems)
        try:
            self.context.store.request(
                self.context.rollout_id, "rollback", actor=f"guard:{GUARD}", reason=reason
            )
        except RollsafeError as error:  # already final: nothing left to roll back
            self.context.journal(Kind.GUARD_REQUEST_REFUSED, {"guard": GUARD, "error": str(error)})
