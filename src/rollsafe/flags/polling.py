"""A flag reader for services on the same machine: polls the state store, evaluates locally.

The store bumps a revision counter on every flag write, so each poll is one
indexed read; the flag set is re-read only when it changed. A service reading
flags this way sees a change within ``interval`` seconds and never blocks a
request on I/O: evaluation uses the last engine built.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from rollsafe.errors import RollsafeError
from rollsafe.flags.engine import Engine
from rollsafe.store import SqliteStore

log = logging.getLogger(__name__)


class StoreFlagPoller:
    def __init__(self, db_path: Path, interval: float = 0.5) -> None:
        self.db_path = db_path
        self.interval = interval
        self._engine = Engine.from_unleash({"version": 1, "features": []})
        self._revision = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._store: SqliteStore | None = None

    def start(self) -> None:
        self.refresh()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="flag-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 1)
            self._thread = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def is_enabled(self, name: str, context: dict[str, Any]) -> bool:
        return self._engine.is_enabled(name, context)

    def refresh(self) -> bool:
        """Rebuild the engine if the flags changed; True when it did. Never raises."""
        if self._store is None and not self.db_path.exists():
            return False
        try:
            if self._store is None:
                self._store = SqliteStore(self.db_path)
            revision = self._store.flags_revision()
            if revision == self._revision:
                return False
            features = [record.definition for record in self._store.list_flags()]
            self._engine = Engine.from_unleash({"version": 1, "features": features})
            self._revision = revision
        except RollsafeError as error:
            # Keep serving the last known flags; a broken store must not break requests.
            log.warning(
                "flag refresh from %s failed, keeping previous flags: %s", self.db_path, error
            )
            return False
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.refresh()
