"""The ``step.<state>`` and ``step.retry`` entries: a step's moves, and their readers.

Written by the store each time a step changes state (`rollsafe.store.rules.rollouts`)
and by the controller before a step runs again (`rollsafe.controller.retries`).
The CLI's live lines, the incident report (the trigger, the releases), the
charts (an analysis step's span), the demo's timings and the risk history read
them back; the step's ``result`` is each step kind's own dict, read by key.
"""

# No `from __future__ import annotations`: the runtime keeps NotRequired only when the
# annotations are evaluated (the tests read __required_keys__ and __optional_keys__).
from typing import Any, NotRequired, TypedDict, cast

from rollsafe.journal.chain import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads.reading import data_of

STEP_STATE_KINDS = (Kind.STEP_PENDING, Kind.STEP_RUNNING, Kind.STEP_SUCCEEDED, Kind.STEP_FAILED)


class StepMoved(TypedDict):
    """A ``step.pending``, ``step.running``, ``step.succeeded`` or ``step.failed`` entry."""

    index: int
    kind: str
    """The step's kind (``deploy``, ``analysis``...), not the entry's."""
    attempt: int
    """How many times the step has started (a ``running`` move counts one more)."""
    spec: NotRequired[dict[str, Any]]
    """Only on ``step.running``: the step's options as planned."""
    result: NotRequired[dict[str, Any]]
    """Only when the move records one: what the step did, or why it failed (``error``)."""


class StepRetry(TypedDict):
    """A ``step.retry`` entry: an attempt failed on a transient error and runs again."""

    index: int
    kind: str
    attempt: int
    """The attempt that failed (1 for the first run)."""
    error: str
    delay: float
    """Seconds until the next attempt."""


def step_moved(entry: JournalEntry) -> StepMoved:
    """A ``step.<state>`` entry's data (a copy)."""
    return cast(StepMoved, data_of(entry, *STEP_STATE_KINDS))


def result_of(entry: JournalEntry) -> dict[str, Any]:
    """The result a ``step.<state>`` entry records; {} for a move without one."""
    return step_moved(entry).get("result") or {}


def step_retry(entry: JournalEntry) -> StepRetry:
    """A ``step.retry`` entry's data (a copy)."""
    return cast(StepRetry, data_of(entry, Kind.STEP_RETRY))
