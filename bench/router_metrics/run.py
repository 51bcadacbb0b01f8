"""One measured run: the router under a fixed load, a source looking at its records.

The source runs in this process, which does nothing else while the load (a
separate process, :mod:`bench.router_metrics.load`) runs, so this process's CPU
time over the run is the source's cost. Delay: the ``k``-th response to end (by
the generator's clock) is observed by the first look whose count reaches ``k``;
its delay is the end of that look minus the response's end.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bench.router_metrics.servers import Instances, SyslogRouter, router_config
from bench.router_metrics.syslog import SyslogSource
from rollsafe.config import RouterMetrics
from rollsafe.metrics import RouterSource
from rollsafe.routers import NginxRouter
from rollsafe.typing import Observation

TRANSPORTS = ("file", "syslog-at-looks", "syslog-thread")
PAGE = os.sysconf("SC_PAGE_SIZE")


class Source(Protocol):
    def observe(self, t: float) -> list[Observation]: ...
    def close(self) -> None: ...


@dataclass
class Run:
    transport: str
    rate: float
    seconds: float
    look_every: float
    load: dict[str, float] = field(default_factory=dict)
    counted: float = 0.0
    malformed: int = 0
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    delays: list[float] = field(default_factory=list)
    delays_1s: list[float] = field(default_factory=list)
    rss: list[tuple[float, int]] = field(default_factory=list)

    @property
    def achieved_rate(self) -> float:
        """Requests per second the load generator completed, by its own clock."""
        seconds = self.load.get("seconds", 0)
        return (self.load.get("ok", 0) + self.load.get("errors", 0)) / seconds if seconds else 0.0

    @property
    def lost(self) -> float:
        return self.load.get("ok", 0) + self.load.get("errors", 0) - self.counted

    @property
    def cpu_percent(self) -> float:
        return 100 * self.cpu_seconds / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def cpu_percent_per_1000(self) -> float:
        rate = self.achieved_rate
        return self.cpu_percent / (rate / 1000) if rate else 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def _total(observations: list[Observation]) -> float:
    return sum(o.get("requests", 0.0) for o in observations)


def _delays(done: array[float], looks: list[tuple[float, float]]) -> list[float]:
    delays: list[float] = []
    look = 0
    for k, ended in enumerate(done, start=1):
        while look < len(looks) and looks[look][1] < k:
            look += 1
        if look == len(looks):
            break  # never counted (lost)
        delays.append(looks[look][0] - ended)
    return delays


def measure(
    transport: str,
    instances: Instances,
    workdir: Path,
    *,
    rate: float,
    seconds: float,
    look_every: float,
    connections: int = 20,
) -> Run:
    run = Run(transport, rate, seconds, look_every)
    home = workdir / f"router-{transport}-{rate:g}-{seconds:g}"
    router: NginxRouter
    source: Source
    if transport == "file":
        router = NginxRouter(router_config(), home=home)
    else:
        home.mkdir(parents=True, exist_ok=True)
        os.chmod(home, 0o755)  # noqa: S103 - nginx workers run as nobody
        router = SyslogRouter(router_config(), home=home, socket=home / "records.sock")
    router.start()
    try:
        router.set_weights([instances.old], [instances.new], 50)
        if transport == "file":
            source = RouterSource(RouterMetrics(), router.records_log)
        else:
            source = SyslogSource(home / "records.sock", thread=transport == "syslog-thread")
        times = home / "done.bin"
        load = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.router_metrics.load",
                router.url,
                str(rate),
                str(seconds),
                str(connections),
                str(times),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        looks: list[tuple[float, float]] = []
        # CPU and time count from the first record seen (the generator's start-up is not load).
        started = cpu_started = 0.0
        spawned = time.monotonic(), _cpu()
        next_look = next_rss = spawned[0]
        while load.poll() is None:
            counted = _total(source.observe(time.monotonic()))
            now = time.monotonic()
            looks.append((now, counted))
            if counted and not started:
                started, cpu_started = now, _cpu()
                next_rss = now
            if started and now >= next_rss:
                run.rss.append((round(now - started, 1), _rss()))
                next_rss += 1.0
            next_look += look_every
            time.sleep(max(0.0, next_look - time.monotonic()))
        if not started:  # nothing recorded at all: count from the start
            started, cpu_started = spawned
        run.wall_seconds = time.monotonic() - started
        run.cpu_seconds = _cpu() - cpu_started
        assert load.stdout is not None
        run.load = json.loads(load.stdout.read())
        expected = run.load["ok"] + run.load["errors"]
        deadline = time.monotonic() + 3
        while True:  # the next look, on schedule, then until every record is counted
            time.sleep(max(0.0, next_look - time.monotonic()))
            next_look += look_every
            counted = _total(source.observe(time.monotonic()))
            looks.append((time.monotonic(), counted))
            if counted >= expected or time.monotonic() > deadline:
                break
        run.counted = looks[-1][1]
        run.malformed = (
            source.counter.malformed if isinstance(source, SyslogSource) else source.malformed
        )
        done: array[float] = array("d")
        with times.open("rb") as file:
            done.frombytes(file.read())
        run.delays = _delays(done, looks)
        step = max(1, round(1.0 / look_every))
        run.delays_1s = _delays(done, looks[step - 1 :: step] + looks[-1:])
        source.close()
    finally:
        router.stop()
    return run
