"""Traffic for the demo: browse and checkout requests at a bounded rate, like a load balancer.

``generate_load`` sends requests on a fixed schedule (``rate`` per second), never
more than ``concurrency`` at once: when every slot is busy the schedule slips
rather than piling up tasks, and a late loop does not burst to catch up. Each
request goes to the next endpoint in round-robin order over ``endpoints()``,
re-read for every request because instances come and go during a rolling
deploy; a request that cannot connect is retried once on the next endpoint.
User ids come from a fixed pool, so a flag's gradual rollout splits them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from rollsafe.demo.shop import PRODUCT_IDS

TIMEOUT = httpx.Timeout(5.0, connect=1.0)
"""Per request: 1 s to connect, 5 s for the rest; a request never hangs the generator."""
RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError)
"""Failures where the request was not served (refused, or a kept-alive connection closed)."""
STOP_GRACE = 1.0
"""Seconds in-flight requests get to finish once ``stop`` is set; then they are cancelled."""


@dataclass
class LoadStats:
    """What the generator did. ``ok`` is a status below 400, ``errors`` 400 and above,
    ``connection_failures`` requests that got no response even after the retry."""

    sent: int = 0
    ok: int = 0
    errors: int = 0
    connection_failures: int = 0
    retries: int = 0
    checkouts: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "connection_failures": self.connection_failures,
            "retries": self.retries,
            "checkouts": self.checkouts,
            "by_status": dict(sorted(self.by_status.items())),
            "seconds": round(self.seconds, 3),
            "rate": round(self.sent / self.seconds, 1) if self.seconds else 0.0,
        }


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    body: dict[str, Any] | None = None


class _Mix:
    """Chooses the next request: checkouts by random users, or browsing."""

    def __init__(self, rng: random.Random, checkout_share: float, users: int) -> None:
        self.rng = rng
        self.checkout_share = checkout_share
        self.users = [f"user-{number}" for number in range(users)]

    def next(self) -> _Request:
        rng = self.rng
        if rng.random() < self.checkout_share:
            products = rng.sample(PRODUCT_IDS, rng.randint(1, 3))
            items = [{"product_id": p, "quantity": rng.randint(1, 3)} for p in products]
            return _Request(
                "POST", "/checkout", {"user_id": rng.choice(self.users), "items": items}
            )
        if rng.random() < 0.5:
            return _Request("GET", "/products")
        return _Request("GET", f"/products/{rng.choice(PRODUCT_IDS)}")


class _Balancer:
    """Round-robin over the current endpoints, with one retry on the next one."""

    def __init__(self, client: httpx.AsyncClient, endpoints: Callable[[], Sequence[str]]) -> None:
        self.client = client
        self.endpoints = endpoints
        self.turn = 0

    def pick(self, failed: str | None = None) -> str | None:
        """The next endpoint in turn; for a retry, the one after the endpoint that failed
        (the shared turn moves with other requests in flight and could land on it again)."""
        endpoints = [endpoint.rstrip("/") for endpoint in self.endpoints()]
        if not endpoints:
            return None
        if failed in endpoints:
            return endpoints[(endpoints.index(failed) + 1) % len(endpoints)]
        self.turn += 1
        return endpoints[self.turn % len(endpoints)]

    async def send(self, request: _Request, stats: LoadStats) -> None:
        endpoint = None
        for attempt in range(2):
            endpoint = self.pick(failed=endpoint)
            if endpoint is None:
                break
            try:
                response = await self.client.request(
                    request.method, endpoint + request.path, json=request.body
                )
            except RETRYABLE:
                if attempt == 0:
                    stats.retries += 1
                    continue
                break
            except (httpx.HTTPError, httpx.InvalidURL):
                break  # a read timeout or reset after sending: the request may have run
            stats.by_status[str(response.status_code)] += 1
            if response.status_code < 400:
                stats.ok += 1
            else:
                stats.errors += 1
            return
        stats.connection_failures += 1


async def generate_load(
    endpoints: Callable[[], Sequence[str]],
    *,
    rate: float = 100.0,
    checkout_share: float = 0.4,
    users: int = 500,
    stop: asyncio.Event,
    seed: int | None = None,
    concurrency: int = 50,
    client: httpx.AsyncClient | None = None,
) -> LoadStats:
    """Send requests at ``rate`` per second until ``stop`` is set; returns what happened.

    Returns within about ``STOP_GRACE`` seconds of ``stop``; closes its client
    (not one passed in).
    """
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    if not 0 <= checkout_share <= 1:
        raise ValueError(f"checkout_share must be between 0 and 1, got {checkout_share}")
    stats = LoadStats()
    mix = _Mix(random.Random(seed), checkout_share, max(1, users))
    slots = asyncio.Semaphore(concurrency)
    in_flight: set[asyncio.Task[None]] = set()
    owned = client is None
    http = client or httpx.AsyncClient(
        timeout=TIMEOUT,
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
    )
    balancer = _Balancer(http, endpoints)
    interval = 1.0 / rate
    started = time.monotonic()
    due = started

    async def one(request: _Request) -> None:
        try:
            await balancer.send(request, stats)
        finally:
            slots.release()

    try:
        while not stop.is_set():
            delay = due - time.monotonic()
            if delay > 0 and await _wait(stop, delay):
                break
            if not await _acquire(slots, stop):  # bounded: a full house delays the schedule
                break
            request = mix.next()
            stats.sent += 1
            stats.checkouts += request.path == "/checkout"
            task = asyncio.create_task(one(request))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            # Fixed ticks; after a stall, restart the schedule instead of bursting.
            due = max(due + interval, time.monotonic() - interval)
    finally:
        if in_flight:
            _, pending = await asyncio.wait(set(in_flight), timeout=STOP_GRACE)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            stats.connection_failures += len(pending)
        if owned:
            await http.aclose()
        stats.seconds = time.monotonic() - started
    return stats


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; True if ``stop`` was set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()


async def _acquire(slots: asyncio.Semaphore, stop: asyncio.Event) -> bool:
    """Take a slot, or give up when ``stop`` is set first (False)."""
    if not slots.locked():
        await slots.acquire()
        return True
    acquire = asyncio.ensure_future(slots.acquire())
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({acquire, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await stopped
    if acquire.done() and not stop.is_set():
        return True
    acquire.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await acquire
    if not acquire.cancelled():
        slots.release()  # won the slot just as stop was set: give it back
    return False
