"""Deliver one channel's messages from a thread of its own, never in the rollout's way.

Messages go into a bounded queue (the oldest is dropped when a receiver is too
slow); each POST has the channel's timeout; a 429, a 5xx or a connection error
is retried with exponential backoff (``Retry-After`` honoured, capped); a
message that still fails is reported through ``on_failure`` (the controller
journals it as ``notify.failed``), never raised. ``close`` waits for the queue
at most until a deadline, then reports what it leaves undelivered.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from rollsafe.notify.message import Message
from rollsafe.notify.provider import Provider, encode
from rollsafe.notify.signing import DELIVERY_HEADER
from rollsafe.support.http import http_client

log = logging.getLogger(__name__)

BACKOFF = 0.5
"""Seconds before the first retry; doubled for each further one."""
MAX_WAIT = 30.0
"""The longest pause between attempts, whatever ``Retry-After`` asks for."""

FailureReport = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Attempted:
    """How one message went: delivered, or the last error after ``attempts`` tries."""

    ok: bool
    attempts: int
    error: str = ""
    status: int | None = None


class Sender:
    def __init__(
        self,
        provider: Provider,
        url: str,
        *,
        label: str,
        timeout: float,
        retries: int,
        on_failure: FailureReport | None = None,
        max_pending: int = 100,
        backoff: float = BACKOFF,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.provider, self.url, self.label = provider, url, label
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.on_failure = on_failure
        self.sent = self.failed = self.dropped = 0
        self._queue: queue.Queue[Message | None] = queue.Queue(maxsize=max_pending)
        self._closing = threading.Event()
        self._closed = False
        self._in_flight: Message | None = None
        self._lock = threading.Lock()
        self._client = http_client(timeout=timeout, transport=transport)
        self._thread = threading.Thread(target=self._run, name=f"notify-{label}", daemon=True)
        self._thread.start()

    def put(self, message: Message) -> None:
        """Queue ``message``; returns at once, dropping the oldest when full."""
        while True:
            try:
                self._queue.put_nowait(message)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()
                    self.dropped += 1

    def finish(self) -> None:
        """Ask the thread to stop after what is queued (a signal: does not wait)."""
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)

    def join(self, deadline: float) -> None:
        """Wait for the queue until ``deadline`` (monotonic); report what is left, stop."""
        self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._closing.set()  # any retry wait ends now; an attempt in flight ends by its timeout
        with self._lock:  # from here on the thread reports nothing: counted here instead
            self._closed = True
            left = [] if self._in_flight is None else [self._in_flight.event]
        with contextlib.suppress(queue.Empty):
            while True:
                if (message := self._queue.get_nowait()) is not None:
                    left.append(message.event)
        if left or self.dropped:
            self._emit(
                {
                    "undelivered": left,
                    "dropped": self.dropped,
                    "error": f"not delivered within {self.timeout:g}s of the run's end"
                    if left
                    else "dropped: the receiver was too slow",
                }
            )
        if not self._thread.is_alive():
            self._client.close()

    def _run(self) -> None:
        while (message := self._queue.get()) is not None:
            with self._lock:
                self._in_flight = message
            outcome = self.deliver(message)
            with self._lock:
                self._in_flight = None
                late = self._closed
            if outcome.ok:
                self.sent += 1
                continue
            self.failed += 1
            log.warning("notification to %s failed: %s", self.label, outcome.error)
            if late:
                continue  # the run ended meanwhile; close() reported it as undelivered
            self._emit(
                {
                    "event": message.event,
                    "seq": message.entry.seq,
                    "attempts": outcome.attempts,
                    "status": outcome.status,
                    "error": outcome.error,
                }
            )

    def deliver(self, message: Message) -> Attempted:
        """POST ``message``, retrying what a retry can fix; never raises."""
        try:
            body = encode(self.provider.payload(message))
        except Exception as broken:  # a format's bug must not end the channel's thread
            return Attempted(False, 0, f"cannot build the {self.provider.name} payload: {broken}")
        attempt, status, error = 0, None, ""
        while True:
            attempt += 1
            wait = self.backoff * 2 ** (attempt - 1)
            headers = {"Content-Type": "application/json", DELIVERY_HEADER: message.entry.hash}
            headers.update(self.provider.headers(body, time.time()))
            try:
                response = self._client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as failure:
                status, error = None, f"{type(failure).__name__}: {failure}"
            else:
                status = response.status_code
                if status < 300:
                    return Attempted(True, attempt, status=status)
                error = f"HTTP {status}: {response.text[:200]}"
                if status != 429 and status < 500:
                    return Attempted(False, attempt, error, status)  # a retry changes nothing
                wait = max(wait, retry_after(response.headers.get("Retry-After")) or 0.0)
            if attempt > self.retries or self._closing.wait(min(wait, MAX_WAIT)):
                return Attempted(False, attempt, error, status)

    def _emit(self, data: dict[str, Any]) -> None:
        if self.on_failure is None:
            return
        try:
            self.on_failure({"channel": self.label, **data})
        except Exception as error:  # a thread of its own: nothing above to catch it
            log.error("cannot journal a notification failure (%s): %s", self.label, error)


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None
