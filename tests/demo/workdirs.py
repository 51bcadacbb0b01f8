"""What a demo run left in its work directory: live processes, Prometheus's query log."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path


def processes_of(workdir: Path) -> list[str]:
    """Command lines of live processes started for this work directory (shop, Prometheus)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(workdir) in cmdline:
            found.append(cmdline)
    return found


def prometheus_runs(workdir: Path) -> bool:
    config = f"--config.file={workdir / 'prometheus' / 'prometheus.yml'}"
    return any(config in cmdline for cmdline in processes_of(workdir))


def queries(workdir: Path) -> list[tuple[float, str]]:
    """(time, PromQL) of every query the demo's Prometheus answered, from its query log."""
    logged = []
    for line in (workdir / "prometheus" / "queries.log").read_text().splitlines():
        record = json.loads(line)
        logged.append((datetime.fromisoformat(record["ts"]).timestamp(), record["params"]["query"]))
    return logged
