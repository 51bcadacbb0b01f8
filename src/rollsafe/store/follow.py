"""Follow the journal as it grows, from a thread: live progress for any process."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from rollsafe.journal import JournalEntry
from rollsafe.store.opening import open_store_url
from rollsafe.store.protocol import Store


class JournalFollower:
    """Calls ``on_entry`` for each entry appended after it starts, until it is exited.

    Entries of other rollouts are skipped when ``rollout_id`` is given; entries
    without a rollout (flag changes by hand) are always shown.
    """

    def __init__(
        self,
        store: Store | str | os.PathLike[str],
        on_entry: Callable[[JournalEntry], None],
        *,
        rollout_id: str | None = None,
        interval: float = 0.2,
    ) -> None:
        # Given an address, the follower reads through a connection of its own and closes it.
        self._owns_store = isinstance(store, str | os.PathLike)
        self._store: Store = (
            open_store_url(store) if isinstance(store, str | os.PathLike) else store
        )
        self._on_entry = on_entry
        self._rollout_id = rollout_id
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="journal-follow", daemon=True)
        entries = self._store.journal(rollout_id)
        self._seq = entries[-1].seq if entries else 0

    def __enter__(self) -> JournalFollower:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self._owns_store:
            self._store.close()

    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()  # drain once more after the stop request
            for entry in self._store.journal(after_seq=self._seq):
                self._seq = entry.seq
                if self._rollout_id is None or entry.rollout_id in (None, self._rollout_id):
                    self._on_entry(entry)
            if stopping:
                return
            time.sleep(self._interval)
