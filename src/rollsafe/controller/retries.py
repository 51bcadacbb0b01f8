"""Running a step again after a transient error, journaled, within a deadline.

A `TemporaryError` (kopf's word) is a condition that clears by itself: another
rollsafe process holding the target's lock for its own deploy or rollback, a
store briefly unreachable. Failing the step would roll back a release that may
be healthy, so the step runs again after the error's ``delay``. Each retry is
journaled (`RETRY_EVENT`) so the wait is visible while it lasts and in the
incident report. Steps are idempotent (`rollsafe.controller.steps`): a second
run applies once.

Retries are bounded twice: ``attempts`` runs in all, and no retry starts once
``deadline`` seconds have passed since the first transient failure. Then the
last error fails the step as any other error does, and the rollout rolls back.
A pause, abort or guard rollback requested while waiting ends the wait at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rollsafe.errors import TemporaryError
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import StepRetry

if TYPE_CHECKING:
    from rollsafe.controller.context import StepContext, StepOutcome

RETRY_EVENT = Kind.STEP_RETRY
"""Journaled before each retry: the step, the attempt that failed, why, and the wait."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 10
    """Runs of the step in all, the first included."""
    deadline: float = 600.0
    """Seconds after the first transient failure past which no retry starts. Ten minutes
    outlast any deploy or rollback another controller may be running on the target."""


def with_retries(
    context: StepContext, kind: str, attempt: Callable[[], StepOutcome]
) -> StepOutcome:
    """``attempt()``, run again while it raises a TemporaryError and the policy allows."""
    policy = context.retries
    first_failure: float | None = None
    number = 1
    while True:
        try:
            return attempt()
        except TemporaryError as error:
            now = time.monotonic()
            first_failure = now if first_failure is None else first_failure
            left = policy.deadline - (now - first_failure)
            if number >= policy.attempts or error.delay >= left:
                raise
            retry: StepRetry = {
                "index": context.store.get_rollout(context.rollout_id).step_index,
                "kind": kind,
                "attempt": number,
                "error": str(error),
                "delay": error.delay,
            }
            context.journal(RETRY_EVENT, retry)
            if request := context.sleep(error.delay, poll=min(0.5, error.delay)):
                return context.interruption(request)
            number += 1
