"""Send journal entries to a webhook from a thread of its own.

A rollout never waits on a notification: entries go into a bounded queue
(the oldest is dropped when a receiver is too slow), each POST has a timeout,
and a failure is logged, never raised.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from typing import Any

import httpx

from rollsafe.config.notify import WebhookNotify
from rollsafe.journal import JournalEntry
from rollsafe.support.http import http_client

log = logging.getLogger(__name__)


class WebhookNotifier:
    def __init__(self, config: WebhookNotify, *, max_pending: int = 100) -> None:
        self.config = config
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._events = set(config.events)
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=max_pending)
        self._thread = threading.Thread(target=self._run, name="notify-webhook", daemon=True)
        self._thread.start()

    def __call__(self, entry: JournalEntry) -> None:
        """Queue ``entry`` if its kind is one to send; returns at once."""
        if entry.kind not in self._events:
            return
        message = {"text": f"rollsafe {entry.kind} ({entry.rollout_id})", "entry": entry.to_dict()}
        while True:
            try:
                self._queue.put_nowait(message)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (bounded by ``timeout``), then stop."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout=timeout)

    def _run(self) -> None:
        with http_client(timeout=self.config.timeout) as client:
            while (message := self._queue.get()) is not None:
                try:
                    client.post(self.config.url, json=message).raise_for_status()
                    self.sent += 1
                except httpx.HTTPError as error:
                    self.failed += 1
                    log.warning("webhook %s failed: %s", self.config.url, error)
