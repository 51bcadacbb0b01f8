"""A notifier that keeps what it hears, for tests of what a rollout tells people."""

from __future__ import annotations

from collections.abc import Iterable

from rollsafe.journal import JournalEntry


class CapturingNotifier:
    """Keeps every journal entry it is sent whose kind is in ``events`` (all when None)."""

    def __init__(self, events: Iterable[str] | None = None) -> None:
        self.events = set(events) if events is not None else None
        self.entries: list[JournalEntry] = []
        self.closed = False

    def __call__(self, entry: JournalEntry) -> None:
        if self.events is None or entry.kind in self.events:
            self.entries.append(entry)

    def close(self) -> None:
        self.closed = True

    @property
    def kinds(self) -> list[str]:
        """The kind of each entry kept, in order."""
        return [entry.kind for entry in self.entries]
