"""The shop's Prometheus metrics, on a registry per app, recorded by an ASGI middleware.

- ``http_requests_total{route, method, status, variant, release}`` (counter);
- ``http_request_duration_seconds{route, variant, release}`` (histogram, 1 ms to 2.5 s);
- ``process_resident_memory_bytes`` (gauge, read from ``/proc/self/statm`` at each scrape);
- ``process_start_time_seconds`` (gauge, when this app instance was created: a
  scraper sees it change when the instance restarts).

``route`` is the route template (``/products/{id}``), or ``unmatched`` for paths no
route serves, so label cardinality stays bounded. ``variant`` is ``new`` when the
handler sent the request down the fast-checkout path, ``old`` otherwise.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]
ASGIApp = Callable[[Scope, Receive, Send], Any]

VARIANT_KEY = "rollsafe.variant"
"""Handlers set ``scope[VARIANT_KEY] = "new"`` when a request takes the new path."""

BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1,
    0.15, 0.2, 0.25, 0.3, 0.5, 0.75, 1.0, 2.5, math.inf,
)  # fmt: skip
_CONVERTOR = re.compile(r":[^}]+}")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_memory_bytes() -> float:
    """The process's current RSS; peak RSS where ``/proc`` does not exist (macOS)."""
    try:
        with open("/proc/self/statm") as statm:
            return float(int(statm.read().split()[1]) * _PAGE_SIZE)
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return float(peak if sys.platform == "darwin" else peak * 1024)


class Telemetry:
    def __init__(self, release: str) -> None:
        self.release = release
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "http_requests",
            "HTTP requests served, by route template, method, status, arm and release.",
            ["route", "method", "status", "variant", "release"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to serve an HTTP request, by route template, arm and release.",
            ["route", "variant", "release"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        memory = Gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            registry=self.registry,
        )
        memory.set_function(resident_memory_bytes)
        started = Gauge(
            "process_start_time_seconds",
            "When this service instance started, in seconds since the epoch.",
            registry=self.registry,
        )
        started.set(time.time())

    def record(self, route: str, method: str, status: int, variant: str, seconds: float) -> None:
        self.requests.labels(route, method, str(status), variant, self.release).inc()
        self.duration.labels(route, variant, self.release).observe(seconds)


def route_template(scope: Scope) -> str:
    """``/products/{id}`` for ``/products/7``; ``unmatched`` when no route matched."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return "unmatched"
    return _CONVERTOR.sub("}", path)


class TelemetryMiddleware:
    """Counts and times every HTTP request; calls ``on_request`` first (the leak fault)."""

    def __init__(
        self, app: ASGIApp, telemetry: Telemetry, on_request: Callable[[], None] | None = None
    ) -> None:
        self.app = app
        self.telemetry = telemetry
        self.on_request = on_request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.on_request is not None:
            self.on_request()
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.telemetry.record(
                route_template(scope),
                str(scope.get("method", "GET")),
                status,
                str(scope.get(VARIANT_KEY, "old")),
                time.perf_counter() - started,
            )
