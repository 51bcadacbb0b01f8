"""The ``approve`` step's options: a person says go, with an optional deadline.

Kept apart from `rollsafe.config.plan` (which only lists it) so that the
approval gate's rules live in one place: ``on_timeout`` means nothing without a
``timeout``, so a plan naming one alone is refused rather than silently waiting
forever.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from rollsafe.config.types import Duration, StrictModel

TIMEOUT_OUTCOMES = ("pause", "rollback", "continue")


class ApproveStep(StrictModel):
    """Wait until a person approves (dashboard, ``rollsafe rollout approve``, or the API)."""

    message: Annotated[str, Field(max_length=500)] = ""
    """What the approver is asked, shown in the dashboard and sent with the notification."""
    timeout: Duration | None = None
    """Stop waiting after this long; unset: wait until approved, paused or aborted."""
    on_timeout: Literal["pause", "rollback", "continue"] = "pause"
    """What a timeout does: pause (resume waits again), roll back, or go on unapproved."""

    @model_validator(mode="after")
    def _outcome_needs_a_timeout(self) -> ApproveStep:
        if "on_timeout" in self.model_fields_set and self.timeout is None:
            raise ValueError("on_timeout needs a timeout (say timeout: 30m)")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError("timeout must be longer than 0s")
        return self
