"""Where a plan sends notifications about its rollout, and which events it sends.

A plan lists channels under ``notify:``; each has a ``type`` (``webhook``,
``slack``, ``teams``, ``discord``), a URL given inline (``url``) or, so the
secret in a chat webhook's URL stays out of the plan, the name of an
environment variable holding it (``url_env``), and the ``events`` to send.

Events are journal kinds (``guard.tripped``) or names derived from an entry's
data (``analysis.failed`` is an ``analysis.verdict`` that failed). This layer
sits below the journal, so the names are plain strings here;
``tests/journal/test_kinds.py`` and ``tests/notify/test_events.py`` check each
names a real kind (``approval.*`` only once the approve step's kinds exist).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from rollsafe.config.types import Duration, StrictModel

# Journal kinds a plan may name in ``events`` (the generic webhook's defaults
# before typed events existed; still accepted, no longer the default).
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

ANALYSIS_FAILED = "analysis.failed"
"""An ``analysis.verdict`` entry whose verdict is ``fail``."""
ROLLBACK_LEVEL_FAILED = "rollback.level_failed"
"""A ``rollback.level_ended`` entry whose level did not recover the service."""
DERIVED_EVENTS = {
    ANALYSIS_FAILED: "analysis.verdict",
    ROLLBACK_LEVEL_FAILED: "rollback.level_ended",
}
"""Events that are a journal kind plus a condition on its data: event -> kind."""

APPROVAL_WAITING = "approval.waiting"
"""Sent when an approve step starts waiting; the kind exists once approve steps do."""

FAILURE_EVENTS = (
    "guard.tripped",
    ANALYSIS_FAILED,
    "step.failed",
    ROLLBACK_LEVEL_FAILED,
    "rollout.failed",
    "rollout.lease_lost",
    "metrics.blind",
    APPROVAL_WAITING,
    "approval.timed_out",
)
"""Sent by default: everything that needs a person's attention."""

SUCCESS_EVENTS = ("rollout.promoted", "rollout.rolled_back")
"""Opt-in: name them in ``events`` (``rolled_back`` means the rollback worked)."""

OTHER_EVENTS = (
    "rollout.created",
    "rollout.running",
    "rollout.aborted",
    "rollout.paused",
    "rollout.rollback_requested",
    "rollout.abort_requested",
    "guard.metrics_unavailable",
    "step.retry",
    "rollback.level_started",
    "rollback.level_skipped",
    "alert.rollback",
    "approval.granted",
)

KNOWN_EVENTS = frozenset(DEFAULT_EVENTS + FAILURE_EVENTS + SUCCESS_EVENTS + OTHER_EVENTS)
"""Every name ``events`` accepts: a typo is an error, not a channel that never hears."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env_name(value: str | None) -> str | None:
    if value is not None and not _ENV_NAME.match(value):
        raise ValueError(f"must be an environment variable name, got {value!r}")
    return value


class _Channel(StrictModel):
    url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    """The webhook URL itself (fine for a local receiver; chat URLs are secrets)."""
    url_env: str | None = None
    """The environment variable holding the URL, read by the controller when it runs."""
    events: list[str] = Field(default_factory=lambda: list(FAILURE_EVENTS))
    timeout: Duration = 2.0
    """One POST's timeout; also the most the end of a run waits for sends still queued."""
    retries: Annotated[int, Field(ge=0, le=10)] = 3
    """Further attempts after a 429, a 5xx or a connection error, with backoff."""

    @field_validator("url_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return _env_name(value)

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        unknown = [event for event in value if event not in KNOWN_EVENTS]
        if unknown:
            known = ", ".join(sorted(KNOWN_EVENTS))
            raise ValueError(f"unknown event {unknown[0]!r}; known events: {known}")
        return value

    @model_validator(mode="after")
    def _one_url(self) -> _Channel:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url and url_env")
        return self


class WebhookNotify(_Channel):
    """POST each event as rollsafe's own JSON, signed with HMAC when ``secret_env`` is set."""

    type: Literal["webhook"] = "webhook"
    secret_env: str | None = None
    """The environment variable holding the HMAC secret (see docs/notifications.md)."""

    @field_validator("secret_env")
    @classmethod
    def _secret_name(cls, value: str | None) -> str | None:
        return _env_name(value)


class SlackNotify(_Channel):
    """A Slack incoming webhook: ``text`` plus Block Kit ``blocks``."""

    type: Literal["slack"]


class TeamsNotify(_Channel):
    """A Microsoft Teams Workflows webhook: an Adaptive Card in a ``message``."""

    type: Literal["teams"]


class DiscordNotify(_Channel):
    """A Discord channel webhook: ``content`` plus one embed."""

    type: Literal["discord"]


def _type_of(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("type", "webhook"))
    return str(getattr(value, "type", "webhook"))


Notify = Annotated[
    Annotated[WebhookNotify, Tag("webhook")]
    | Annotated[SlackNotify, Tag("slack")]
    | Annotated[TeamsNotify, Tag("teams")]
    | Annotated[DiscordNotify, Tag("discord")],
    Discriminator(
        _type_of,
        custom_error_type="notify_type",
        custom_error_message="type must be webhook, slack, teams or discord",
    ),
]
"""One ``notify:`` entry; ``type`` defaults to ``webhook``."""

NotifyChannel = WebhookNotify | SlackNotify | TeamsNotify | DiscordNotify
