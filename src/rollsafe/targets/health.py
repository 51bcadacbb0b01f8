"""HTTP health checks: readiness of a new instance, and one-shot reports of live ones.

Every request has an explicit timeout and every wait a bounded number of
tries, so a check never hangs. httpx exceptions become reasons (strings) here;
the target turns a failed readiness check into ``HealthCheckError``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from rollsafe.config import HealthCheck
from rollsafe.support.http import http_client
from rollsafe.targets.state import Instance

_BODY_LIMIT = 200
"""Characters of an unhealthy answer's body quoted in its reason."""


@dataclass(frozen=True)
class InstanceHealth:
    instance: Instance
    healthy: bool
    reason: str | None
    """Why it is unhealthy; None when healthy."""


@dataclass(frozen=True)
class HealthReport:
    """One probe of each live instance, against the number the target should run."""

    expected: int
    instances: tuple[InstanceHealth, ...]

    @property
    def healthy_count(self) -> int:
        return sum(item.healthy for item in self.instances)

    @property
    def healthy(self) -> bool:
        """All expected instances run and answer their health check."""
        return self.healthy_count == self.expected == len(self.instances)

    @property
    def reasons(self) -> list[str]:
        reasons = [
            f"instance {item.instance.index} ({item.instance.release}, pid {item.instance.pid}, "
            f"{item.instance.url}): {item.reason}"
            for item in self.instances
            if not item.healthy
        ]
        if len(self.instances) != self.expected:
            reasons.append(f"{len(self.instances)} of {self.expected} instances are running")
        return reasons


def client(check: HealthCheck) -> httpx.Client:
    """A client for probes: explicit timeout, no proxies from the environment, no redirects."""
    return http_client(timeout=httpx.Timeout(check.timeout), trust_env=False)


def probe(http: httpx.Client, base_url: str, check: HealthCheck) -> str | None:
    """One GET of the health path: None when it answers 2xx, else the reason."""
    url = base_url + check.path
    try:
        with http.stream("GET", url) as response:
            if 200 <= response.status_code < 300:
                return None
            body = _head(response)
    except httpx.TimeoutException:
        return f"GET {check.path}: no answer within {check.timeout:g}s"
    except httpx.ConnectError:
        return f"GET {check.path}: connection refused"
    except httpx.HTTPError as exc:
        return f"GET {check.path}: {type(exc).__name__}: {exc}"
    detail = f": {body}" if body else ""
    return f"GET {check.path}: HTTP {response.status_code}{detail}"


def _head(response: httpx.Response) -> str:
    data = b""
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= _BODY_LIMIT:
            break
    return " ".join(data[:_BODY_LIMIT].decode(errors="replace").split())


def wait_ready(base_url: str, check: HealthCheck, exited: Callable[[], str | None]) -> str | None:
    """Probe every ``interval`` up to ``retries`` times: None once healthy, else why not.

    ``exited`` says why the process is gone (None while it runs); a process
    that exits fails at once instead of using up its retries.
    """
    started = time.monotonic()
    reason = "not probed"
    with client(check) as http:
        for attempt in range(check.retries):
            gone = exited()
            if gone is not None:
                return f"process {gone} before it became healthy"
            result = probe(http, base_url, check)
            if result is None:
                return None
            reason = result
            if attempt + 1 < check.retries:
                time.sleep(check.interval)
    gone = exited()
    if gone is not None:
        return f"process {gone} before it became healthy"
    elapsed = time.monotonic() - started
    return f"not healthy after {check.retries} checks in {elapsed:.1f}s; last: {reason}"


def responds(base_url: str, check: HealthCheck, attempts: int = 3) -> bool:
    """True if any of a few probes passes (a running instance may blip once under load)."""
    with client(check) as http:
        for attempt in range(attempts):
            if probe(http, base_url, check) is None:
                return True
            if attempt + 1 < attempts:
                time.sleep(check.interval)
    return False


def report(instances: Sequence[Instance], expected: int, check: HealthCheck) -> HealthReport:
    """Probe each instance once, in parallel; bounded by the probe timeout."""
    if not instances:
        return HealthReport(expected, ())
    with client(check) as http, ThreadPoolExecutor(max_workers=min(8, len(instances))) as pool:
        reasons = list(pool.map(lambda item: probe(http, item.url, check), instances))
    return HealthReport(
        expected,
        tuple(
            InstanceHealth(item, reason is None, reason)
            for item, reason in zip(instances, reasons, strict=True)
        ),
    )
