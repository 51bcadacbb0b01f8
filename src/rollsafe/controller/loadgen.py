"""The built-in load generator: the same requests at two URLs, side by side, recorded.

Each arm gets its own client and its own schedule. Open loop (``rate`` set): a
request is due every ``1/rate`` seconds whatever happened to the previous ones, as
users arrive; when ``connections`` requests are already in flight the due request
is skipped and counted as ``dropped``, so a slow arm shows as lost throughput
instead of piling up tasks. Closed loop (``rate`` None): ``connections`` workers
send back to back, as wrk does, and throughput is what the arm can serve.

Latencies land in fixed histogram buckets (no per-request list: memory stays flat
however long the run), in the judge's observation format.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

BOUNDS: tuple[float, ...] = tuple(
    round(0.0005 * 1.1**k, 7) for k in range(int(math.log(60 / 0.0005, 1.1)) + 1)
)
"""Bucket upper bounds in seconds: 0.5 ms to 60 s, 10% apart, so that a 10% slowdown
moves a request by about one bucket and quantiles interpolate within 5%."""


@dataclass
class ArmRecord:
    """What one arm did: counts and a latency histogram of its successful responses."""

    url: str
    sent: int = 0
    ok: int = 0
    errors: int = 0
    dropped: int = 0
    latency_sum: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BOUNDS) + 1))
    by_error: dict[str, int] = field(default_factory=dict)

    def record(self, seconds: float, error: str | None) -> None:
        if error is not None:
            self.errors += 1
            self.by_error[error] = self.by_error.get(error, 0) + 1
            return
        self.ok += 1
        self.latency_sum += seconds
        self.buckets[_bucket(seconds)] += 1

    def add_histogram(self, counts: Mapping[float, int]) -> None:
        """Latencies measured elsewhere (wrk): seconds -> number of requests."""
        for seconds, count in counts.items():
            self.ok += count
            self.latency_sum += seconds * count
            self.buckets[_bucket(seconds)] += count

    def observation(self, t: float, arm: str) -> dict[str, Any]:
        """The judge's input: cumulative counters and buckets (docs/judge.md)."""
        cumulative: dict[str, int] = {}
        running = 0
        for bound, count in zip(BOUNDS, self.buckets, strict=False):
            running += count
            cumulative[repr(bound)] = running
        cumulative["+Inf"] = running + self.buckets[-1]
        return {
            "t": t,
            "arm": arm,
            "requests": self.ok + self.errors,
            "errors": self.errors,
            "latency_seconds_bucket": cumulative,
        }


def _bucket(seconds: float) -> int:
    if seconds <= BOUNDS[0]:
        return 0
    index = math.ceil(math.log(seconds / BOUNDS[0], 1.1) - 1e-9)
    # Rounded bounds: step to the first bound at or above the value.
    index = max(0, min(index, len(BOUNDS)))
    while index < len(BOUNDS) and BOUNDS[index] < seconds:
        index += 1
    while index > 0 and BOUNDS[index - 1] >= seconds:
        index -= 1
    return index


Tick = Callable[[float], bool]
"""Called about every second with the elapsed time; True stops the run early."""


async def drive(
    records: Mapping[str, ArmRecord],
    *,
    duration: float,
    rate: float | None,
    connections: int,
    timeout: float,
    tick: Tick,
    interval: float = 1.0,
    lags: list[float] | None = None,
) -> float:
    """Send traffic to every arm for ``duration`` seconds; returns the seconds it ran.

    ``lags`` receives the event loop's own delays, sampled every 10 ms (see
    :func:`_heartbeat`).
    """
    started = time.monotonic()
    deadline = started + duration
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    clients = {
        arm: httpx.AsyncClient(timeout=httpx.Timeout(timeout), limits=limits) for arm in records
    }
    try:
        senders = [
            asyncio.create_task(
                _open_loop(clients[arm], record, rate, connections, deadline, stop)
                if rate is not None
                else _closed_loop(clients[arm], record, connections, deadline, stop)
            )
            for arm, record in records.items()
        ]
        heartbeat = asyncio.create_task(_heartbeat(stop, lags if lags is not None else []))
        while not stop.is_set():
            now = time.monotonic()
            if now >= deadline:
                break
            await asyncio.sleep(min(interval, deadline - now))
            if tick(round(time.monotonic() - started, 3)):
                stop.set()
        stop.set()
        await asyncio.gather(*senders, heartbeat)
    finally:
        for client in clients.values():
            await client.aclose()
    return time.monotonic() - started


HEARTBEAT = 0.01
MAX_LAGS = 100_000
"""Samples kept (about 17 minutes at one per 10 ms); later ones replace a random one."""


async def _heartbeat(stop: asyncio.Event, lags: list[float]) -> None:
    """How late the event loop wakes up: the delay the client adds to every measurement.

    A latency is measured when the loop gets round to the response, so a loop
    starved of CPU adds its own delay to both arms, and blurs differences smaller
    than it. The gate turns a pass into inconclusive when this is as large as
    the margin it must detect.
    """
    seen = 0
    while not stop.is_set():
        begun = time.monotonic()
        await asyncio.sleep(HEARTBEAT)
        lag = max(0.0, time.monotonic() - begun - HEARTBEAT)
        seen += 1
        if len(lags) < MAX_LAGS:
            lags.append(lag)
        else:
            lags[seen % MAX_LAGS] = lag


async def _request(client: httpx.AsyncClient, record: ArmRecord) -> None:
    record.sent += 1
    begun = time.perf_counter()
    error: str | None = None
    try:
        response = await client.get(record.url)
        if response.status_code >= 400:
            error = f"HTTP {response.status_code}"
    except httpx.TimeoutException:
        error = "timeout"
    except httpx.HTTPError as failure:
        error = type(failure).__name__
    record.record(time.perf_counter() - begun, error)


async def _open_loop(
    client: httpx.AsyncClient,
    record: ArmRecord,
    rate: float,
    connections: int,
    deadline: float,
    stop: asyncio.Event,
) -> None:
    in_flight: set[asyncio.Task[None]] = set()
    start = time.monotonic()
    due = 0
    while not stop.is_set():
        at = start + due / rate
        if at >= deadline:
            break
        if (wait := at - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        due += 1
        if len(in_flight) >= connections:
            record.dropped += 1
            continue
        task = asyncio.create_task(_request(client, record))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:  # every request has its timeout: this ends
        await asyncio.gather(*in_flight)


async def _closed_loop(
    client: httpx.AsyncClient,
    record: ArmRecord,
    connections: int,
    deadline: float,
    stop: asyncio.Event,
) -> None:
    async def worker() -> None:
        while not stop.is_set() and time.monotonic() < deadline:
            await _request(client, record)

    await asyncio.gather(*(worker() for _ in range(connections)))
