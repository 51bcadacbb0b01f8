"""The ``guard.firing``, ``guard.tripped`` and ``guard.cleared`` entries, and their reader.

Written by the controller's guard monitor and front-door watch from a
`rollsafe.guards.GuardEvent`; the incident report names a tripped guard and
its evidence as the rollback's trigger, and notifications describe it.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict, cast

from rollsafe.journal.chain import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads.reading import data_of

GUARD_EVENT_KINDS = (Kind.GUARD_FIRING, Kind.GUARD_TRIPPED, Kind.GUARD_CLEARED)

# The functional form: ``for`` (the guard's hold time) is a Python keyword.
GuardEvidence = TypedDict(
    "GuardEvidence",
    {
        "metric": str,
        # The metric over the window, in the threshold's unit; None without data.
        "value": float | None,
        "threshold": float,
        "unit": str,
        "for": float,
        "window": float,
        "arm": str,
        # Rate and latency guards: events and trials in the window, by name.
        "counts": NotRequired[dict[str, float | None]],
        "lower_bound": NotRequired[float | None],
        "confidence": NotRequired[float],
        "min_requests": NotRequired[int],
        "min_events": NotRequired[int],
        "quantile": NotRequired[float],
        "pending_since": NotRequired[float | None],
        "firing_since": NotRequired[float],
        # The front-door watch only: what it met reaching the service.
        "problems": NotRequired[list[str]],
        # Error-budget burn-rate guards only (rollsafe.slo.guards): the objective and tier,
        # the short window's burn, and how much of the period's budget the burn spends.
        "slo": NotRequired[str],
        "sli": NotRequired[str],
        "tier": NotRequired[str],
        "short_window": NotRequired[float],
        "short_value": NotRequired[float],
        "target": NotRequired[float],
        "period": NotRequired[float],
        "compress": NotRequired[float],
        "coverage": NotRequired[float],
        "budget_burned": NotRequired[float],
        "exhausts_in": NotRequired[float | None],
    },
)
"""What a guard saw when its condition held (`rollsafe.guards.evaluator`)."""


class GuardEventRecord(GuardEvidence):
    """A ``guard.firing``, ``guard.tripped`` or ``guard.cleared`` entry."""

    guard: str
    severity: str
    t: float


def guard_event(entry: JournalEntry) -> GuardEventRecord:
    """A guard event entry's data (a copy)."""
    return cast(GuardEventRecord, data_of(entry, *GUARD_EVENT_KINDS))
