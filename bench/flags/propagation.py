"""Propagation: flag changes through the API to many open streams, from commit to client.

Latency of one change at one client = when the client holds the new flag,
minus the flag record's ``updated_at`` (stamped inside the store's write
transaction, just before it commits). Clients and server share one machine and
clock. The server runs as ``rollsafe server`` in its own process.

Two kinds of client: ``sdk`` runs `rollsafe.sdk.AsyncFlagClient`s (a listener
notes when each holds the change), ``raw`` reads bare sockets with one selector
(the server's fan-out alone). The server's memory is read from /proc before and
after the streams open, its CPU over the changes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from rollsafe.flags import rollout_feature
from rollsafe.server.tokens import new_token
from rollsafe.store.records import TokenScope
from rollsafe.store.sqlite import SqliteStore
from rollsafe.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class PropagationResult:
    kind: str
    clients: int
    processes: int
    changes: int
    interval: float
    latencies_ms: list[float]
    missing: int
    rss_before_mb: float
    rss_after_mb: float
    server_cpu_ms: float
    """Server CPU per change (the API request, the store write, the fan-out to every stream)."""
    client_cpu_us: float
    """Client-process CPU per change per client (receive, parse, apply, listener); sdk only."""

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    @property
    def mb_per_1000_streams(self) -> float:
        return (self.rss_after_mb - self.rss_before_mb) * 1000 / self.clients


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    kind: str = "sdk",
    clients: int = 1000,
    processes: int = 4,
    changes: int = 100,
    interval: float = 0.5,
    path: str = "/api/client/stream",
    server_src: Path | None = None,
) -> PropagationResult:
    """``server_src``: a ``src`` directory whose rollsafe the server runs (another version's,
    for a side-by-side comparison); the installed one when None."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        store = SqliteStore(home / "rollsafe.db")
        admin, record = new_token("bench-admin", TokenScope.ADMIN, created_by="bench")
        store.add_token(record, actor="bench")
        client_token, record = new_token("bench-client", TokenScope.CLIENT, created_by="bench")
        store.add_token(record, actor="bench")
        names = [f"p{i:03d}" for i in range(changes)]
        store.put_flags({n: rollout_feature(n, 100, enabled=False) for n in names}, actor="bench")
        store.close()
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        server_env = env
        if server_src is not None:
            server_env = {**env, "PYTHONPATH": os.pathsep.join([str(server_src), str(ROOT)])}
        server = subprocess.Popen(
            [sys.executable, "-m", "rollsafe", "--home", str(home), "server",
             "--port", str(port), "--log-level", "warning"],
            stdout=subprocess.DEVNULL, env=server_env,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        workers: list[subprocess.Popen[str]] = []
        try:
            _wait_healthy(url, server)
            time.sleep(0.5)
            rss_before = rss_mb(server.pid)
            share = [clients // processes + (i < clients % processes) for i in range(processes)]
            for count in share:
                if kind == "sdk":
                    command = ["bench.flags.worker", url, client_token, str(count)]
                else:
                    command = ["bench.flags.rawreader", str(port), client_token, str(count), path]
                workers.append(
                    subprocess.Popen(
                        [sys.executable, "-m", *command],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        text=True,
                        env=env,
                        cwd=ROOT,
                    )
                )
            for worker in workers:
                assert worker.stdout is not None
                line = worker.stdout.readline().strip()
                if line != "ready":
                    raise RuntimeError(f"a worker's clients did not all connect: {line!r}")
            time.sleep(1.0)
            rss_after = rss_mb(server.pid)
            server_cpu = cpu_seconds(server.pid)
            committed = _change_flags(url, admin, names, interval)
            time.sleep(2.0)
            server_cpu = cpu_seconds(server.pid) - server_cpu
            latencies: list[float] = []
            missing = 0
            worker_cpu = 0.0
            for worker in workers:
                assert worker.stdin is not None
                assert worker.stdout is not None
                worker.stdin.write("stop\n")
                worker.stdin.flush()
                report = json.loads(worker.stdout.readline())
                worker_cpu += report["cpu"]
                for seen in report["received"]:
                    for name in names:
                        if name in seen:
                            latencies.append((seen[name] - committed[name]) * 1000)
                        else:
                            missing += 1
        finally:
            _stop(workers, server)
    return PropagationResult(
        kind=kind,
        clients=clients,
        processes=processes,
        changes=changes,
        interval=interval,
        latencies_ms=latencies,
        missing=missing,
        rss_before_mb=rss_before,
        rss_after_mb=rss_after,
        server_cpu_ms=1000 * server_cpu / changes,
        client_cpu_us=1e6 * worker_cpu / (changes * clients),
    )


def _change_flags(url: str, admin: str, names: list[str], interval: float) -> dict[str, float]:
    """Turn each flag on through the API, ``interval`` apart; name to commit time."""
    committed: dict[str, float] = {}
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {admin}"}, timeout=10
    ) as api:
        for name in names:
            response = api.put(
                f"/api/admin/flags/{name}",
                json={"definition": rollout_feature(name, 100), "expected_version": 1},
            )
            response.raise_for_status()
            committed[name] = response.json()["updated_at"]
            time.sleep(interval)
    return committed


def _stop(workers: list[subprocess.Popen[str]], server: subprocess.Popen[bytes]) -> None:
    for worker in workers:
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)
    server.terminate()
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(5)


def _wait_healthy(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"rollsafe server exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("rollsafe server did not start")
