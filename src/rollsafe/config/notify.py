"""Where a plan sends notifications about its rollout."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from rollsafe.config.types import Duration, StrictModel

DEFAULT_EVENTS = (
    "guard.firing",
    "guard.tripped",
    "guard.cleared",
    "metrics.blind",
    "rollback.started",
    "rollback.level_ended",
    "rollback.finished",
    "rollout.promoted",
    "rollout.rolled_back",
    "rollout.aborted",
    "rollout.failed",
    "rollout.paused",
    "approval.waiting",
    "approval.timed_out",
)


class WebhookNotify(StrictModel):
    """POST each matching journal entry as JSON to ``url`` (Slack-style incoming webhooks work)."""

    type: Literal["webhook"] = "webhook"
    url: Annotated[str, Field(pattern=r"^https?://")]
    events: list[str] = Field(default_factory=lambda: list(DEFAULT_EVENTS))
    timeout: Duration = 2.0
