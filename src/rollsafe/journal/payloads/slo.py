"""The error-budget entries (``slo.budget_checked``, ``_frozen``, ``_override``), and readers.

Written by `rollsafe.controller.budgets` before a rollout's first step (each
objective's part is what `rollsafe.slo.budget.Budget.to_dict` returns); the
CLI's live lines show the budgets left and who overrode a freeze.
"""

from __future__ import annotations

from typing import TypedDict, cast

from rollsafe.journal.chain import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads.reading import data_of


class BudgetRecord(TypedDict):
    """One objective's remaining error budget (`rollsafe.slo.budget.Budget`)."""

    slo: str
    target: float
    period: float
    """Seconds (compressed when the plan compresses time)."""
    remaining: float | None
    """The fraction of the period's budget left (negative when overspent); None: unknown."""
    error_ratio: float | None
    error: str | None
    """Why ``remaining`` is unknown."""


class BudgetChecked(TypedDict):
    """A ``slo.budget_checked`` entry."""

    floor: float
    budgets: list[BudgetRecord]


class BudgetFrozen(TypedDict):
    """A ``slo.budget_frozen`` entry: the rollout waits for an override."""

    floor: float
    reason: str
    below_floor: list[str]
    unknown: list[str]
    """The objectives below the floor, and those whose budget could not be read."""


class BudgetOverride(TypedDict):
    """A ``slo.budget_override`` entry (its actor is who overrode)."""

    reason: str
    state: str
    """The rollout's state when it was overridden."""


def budget_checked(entry: JournalEntry) -> BudgetChecked:
    """A ``slo.budget_checked`` entry's data (a copy)."""
    return cast(BudgetChecked, data_of(entry, Kind.SLO_BUDGET_CHECKED))


def budget_frozen(entry: JournalEntry) -> BudgetFrozen:
    """A ``slo.budget_frozen`` entry's data (a copy)."""
    return cast(BudgetFrozen, data_of(entry, Kind.SLO_BUDGET_FROZEN))


def budget_override(entry: JournalEntry) -> BudgetOverride:
    """A ``slo.budget_override`` entry's data (a copy)."""
    return cast(BudgetOverride, data_of(entry, Kind.SLO_BUDGET_OVERRIDE))
