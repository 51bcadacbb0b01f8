"""The ``flag.changed`` and ``flag.deleted`` entries, and their readers.

Written by the store whenever a flag is put or deleted (`rollsafe.store.rules.flags`),
by a rollout's steps and rollback, the flag service's API or the CLI. The incident
report, the demo, the CLI's live lines and the dashboard's flag history read
them back. A definition is the flag engine's own (Unleash-shaped) document,
kept as the JSON it is: only its ``enabled`` and its strategies' ``rollout``
are read here, through :func:`enabled` and :func:`rollouts`.
"""

# No `from __future__ import annotations`: the runtime keeps NotRequired only when the
# annotations are evaluated (the tests read __required_keys__ and __optional_keys__).
from typing import Any, NotRequired, TypedDict, cast

from rollsafe.journal.chain import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads.reading import data_of

FlagDefinition = dict[str, Any]
"""A flag's definition as stored (`rollsafe.flags` reads it)."""


class FlagChanged(TypedDict):
    """A ``flag.changed`` entry: a flag created or replaced."""

    name: str
    version: int
    """The flag's version after the change (1 for a new flag)."""
    before: FlagDefinition | None
    """The definition it replaced; None for a flag created (or created again)."""
    after: FlagDefinition
    environment: NotRequired[str]
    """Only outside the default environment (older entries never name it)."""


class FlagDeleted(TypedDict):
    """A ``flag.deleted`` entry: a flag deleted (a tombstone stays in the store)."""

    name: str
    version: int
    before: FlagDefinition
    environment: NotRequired[str]


def flag_changed(entry: JournalEntry) -> FlagChanged:
    """A ``flag.changed`` entry's data (a copy)."""
    return cast(FlagChanged, data_of(entry, Kind.FLAG_CHANGED))


def flag_change(entry: JournalEntry) -> FlagChanged | FlagDeleted:
    """A ``flag.changed`` or ``flag.deleted`` entry's data (a copy)."""
    data = data_of(entry, Kind.FLAG_CHANGED, Kind.FLAG_DELETED)
    if entry.kind == Kind.FLAG_DELETED:
        return cast(FlagDeleted, data)
    return cast(FlagChanged, data)


def definition_after(entry: JournalEntry) -> FlagDefinition | None:
    """The definition a ``flag.changed`` or ``flag.deleted`` entry leaves (None: deleted)."""
    if entry.kind == Kind.FLAG_DELETED:
        flag_change(entry)  # the check of the kind, for the deletion too
        return None
    return flag_changed(entry).get("after")


def turned_on(entry: JournalEntry) -> bool:
    """Whether ``entry`` is a ``flag.changed`` that leaves its flag enabled."""
    return entry.kind == Kind.FLAG_CHANGED and enabled(flag_changed(entry).get("after"))


def enabled(definition: FlagDefinition | None) -> bool:
    """Whether a definition (None for none) has its flag on."""
    return bool((definition or {}).get("enabled"))


def rollouts(definition: FlagDefinition | None) -> list[Any]:
    """Each strategy's ``rollout`` parameter (None for a strategy without one), in order."""
    strategies = (definition or {}).get("strategies", []) or []
    return [s.get("parameters", {}).get("rollout") for s in strategies]
