"""Load with wrk: one scenario at a time, requests per second, latency percentiles, and
the server's CPU seconds over the run (requests per CPU-second is the per-core rate,
whatever else the machine runs)."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.unleash_compare.servers import OWN_SESSION, pinned

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    headers: dict[str, str]
    method: str = "GET"
    body_template: str | None = None
    """A request body with ``{n}`` for a user number, cycled over 1,000 users."""
    expect: int = 200


@dataclass(frozen=True)
class Result:
    scenario: str
    server: str
    requests: int
    seconds: float
    rate: float
    p50_ms: float
    p99_ms: float
    cpu_seconds: float
    errors: int
    """Answers of status 400 or more, and socket errors (timeouts included)."""
    waited_seconds: float = 0.0
    """How long the server's threads were runnable but not running (the run queue's wait in
    /proc/PID/task/*/schedstat): CPU it wanted and other work on its core had."""

    @property
    def per_cpu_second(self) -> float:
        return self.requests / self.cpu_seconds if self.cpu_seconds > 0 else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its descendants (node's and uvicorn's threads included)."""
    total = 0.0
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        stats[int(entry.name)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    pending = [pid]
    while pending:
        current = pending.pop()
        fields = stats.get(current)
        if fields is not None:
            total += (int(fields[11]) + int(fields[12])) / _TICKS
        pending.extend(children.get(current, []))
    return total


def waited_seconds(pid: int) -> float:
    """Run-queue wait of every thread of ``pid`` so far (0 where schedstat is missing).

    A process whose CPU share is low while it waits this long was starved of its core,
    not idle: it had requests to answer."""
    total = 0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def _script(scenario: Scenario) -> str:
    lines = [f'wrk.method = "{scenario.method}"']
    for key, value in scenario.headers.items():
        lines.append(f'wrk.headers["{key}"] = "{value}"')
    if scenario.body_template is not None:
        before, _, after = scenario.body_template.partition("{n}")
        lines += [
            "local n = 0",
            "request = function()",
            "  n = (n + 1) % 1000",
            f"  return wrk.format(nil, nil, nil, '{before}' .. n .. '{after}')",
            "end",
        ]
    lines += [
        "done = function(summary, latency, requests)",
        '  io.write(string.format("RESULT %d %f %f %f %d\\n", summary.requests,'
        " summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,"
        " summary.errors.connect + summary.errors.read + summary.errors.write"
        " + summary.errors.timeout + summary.errors.status))",
        "end",
    ]
    return "\n".join(lines) + "\n"


def run(
    server: str,
    url: str,
    pid: int,
    scenario: Scenario,
    *,
    seconds: float,
    connections: int,
    cores: str | None,
) -> Result:
    """``scenario`` against ``url`` for ``seconds`` (after a 2 s warm-up), wrk on ``cores``."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_script(scenario))
    try:
        command = ["wrk", "-t1", f"-c{connections}", "-s", script.name, f"{url}{scenario.path}"]
        subprocess.run(pinned([*command[:3], "-d2s", *command[3:]], cores),
                       capture_output=True, text=True, check=True,
                       start_new_session=OWN_SESSION)  # fmt: skip
        before, waited_before = cpu_seconds(pid), waited_seconds(pid)
        done = subprocess.run(
            pinned([*command[:3], f"-d{seconds:g}s", *command[3:]], cores),
            capture_output=True,
            text=True,
            check=True,
            start_new_session=OWN_SESSION,
        )
        used, waited = cpu_seconds(pid) - before, waited_seconds(pid) - waited_before
    finally:
        os.unlink(script.name)
    match = re.search(r"RESULT (\d+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+)", done.stdout)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    requests, duration, p50, p99, errors = match.groups()
    return Result(
        scenario=scenario.name,
        server=server,
        requests=int(requests),
        seconds=float(duration),
        rate=int(requests) / float(duration),
        p50_ms=float(p50),
        p99_ms=float(p99),
        cpu_seconds=used,
        errors=int(errors),
        waited_seconds=waited,
    )
