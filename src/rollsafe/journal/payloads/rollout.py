"""The ``rollout.created``, ``rollout.<state>`` and request entries, and their readers.

Written by the store (`rollsafe.store.rules.rollouts`) when a plan is submitted,
each time the rollout changes state and when a person or guard leaves a
request for its owner. The incident report (service, outcome, who aborted),
the CLI's live lines, notifications and the risk history read them back.
"""

# No `from __future__ import annotations`: the runtime keeps NotRequired only when the
# annotations are evaluated (the tests read __required_keys__ and __optional_keys__).
from typing import Any, NotRequired, TypedDict, cast

from rollsafe.journal.chain import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads.reading import data_of

ROLLOUT_STATE_KINDS = (
    Kind.ROLLOUT_PENDING,
    Kind.ROLLOUT_RUNNING,
    Kind.ROLLOUT_PAUSED,
    Kind.ROLLOUT_ROLLING_BACK,
    Kind.ROLLOUT_PROMOTED,
    Kind.ROLLOUT_ROLLED_BACK,
    Kind.ROLLOUT_ABORTED,
    Kind.ROLLOUT_FAILED,
)
REQUEST_KINDS = (
    Kind.ROLLOUT_PAUSE_REQUESTED,
    Kind.ROLLOUT_ABORT_REQUESTED,
    Kind.ROLLOUT_ROLLBACK_REQUESTED,
    Kind.ROLLOUT_REQUEST_CLEARED,
)


class RolloutCreated(TypedDict):
    """A ``rollout.created`` entry: the plan submitted."""

    service: str
    plan_path: str
    steps: list[dict[str, Any]]
    """Each step's options, with its ``kind``, in plan order."""


# The functional form: ``from`` is a Python keyword.
RolloutMoved = TypedDict(
    "RolloutMoved",
    {
        # The states before and after (`rollsafe.store.RolloutState` values).
        "from": str,
        "to": str,
        # The rollout's current step after the move.
        "step_index": int,
        # Only when the move gives one (a failure, a rollback's trigger...).
        "reason": NotRequired[str],
    },
)
"""A ``rollout.<state>`` entry: the rollout moved to a state."""


class RolloutRequest(TypedDict):
    """A ``rollout.<command>_requested`` or ``rollout.request_cleared`` entry."""

    reason: NotRequired[str]
    """Only when the request gives one."""


def rollout_created(entry: JournalEntry) -> RolloutCreated:
    """A ``rollout.created`` entry's data (a copy)."""
    return cast(RolloutCreated, data_of(entry, Kind.ROLLOUT_CREATED))


def rollout_moved(entry: JournalEntry) -> RolloutMoved:
    """A ``rollout.<state>`` entry's data (a copy)."""
    return cast(RolloutMoved, data_of(entry, *ROLLOUT_STATE_KINDS))


def rollout_request(entry: JournalEntry) -> RolloutRequest:
    """A request entry's data (a copy)."""
    return cast(RolloutRequest, data_of(entry, *REQUEST_KINDS))
