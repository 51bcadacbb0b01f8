"""The ``metrics.blind`` entry: nobody has seen data for too long, and its reader.

Written by the guard monitor and the analysis step from a
`rollsafe.controller.blindness.Blindness`; the CLI prints it live, the incident
report lists it (and names it the trigger when ``on_blind`` rolled back), and
notifications send it.
"""

from __future__ import annotations

from typing import Literal, TypedDict, cast

from rollsafe.journal.chain import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads.reading import data_of


class MetricsBlind(TypedDict):
    """A ``metrics.blind`` entry."""

    watcher: Literal["guards", "analysis"]
    t: float
    """The watcher's time of the failed look that made the outage long enough."""
    since: float | None
    """The watcher's time of the outage's first failed look."""
    blind_for: float
    """Seconds without data (``t - since``, rounded to the millisecond)."""
    error: str
    """The last look's error."""
    action: Literal["pause", "rollback"]
    """What the rollout does about it: the plan's ``on_blind``."""


def metrics_blind(entry: JournalEntry) -> MetricsBlind:
    """A ``metrics.blind`` entry's data (a copy)."""
    return cast(MetricsBlind, data_of(entry, Kind.METRICS_BLIND))
