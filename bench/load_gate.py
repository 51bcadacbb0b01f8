"""The load gate on real loopback services: what it catches, and how fast its generators go.

1. Detection: a baseline service answering every GET after ``base`` seconds and a
   candidate ``factor`` times slower, both real processes
   (``tests/load/slow_service.py``), judged by ``rollsafe.controller.loadgate.measure``
   with the default margins (10% and 5 ms), open loop at ``--rate`` requests/s per arm
   for ``--duration`` seconds. Per (base, factor): pass / inconclusive / fail counts and
   the median time to a fail.
2. Generator capacity: both generators in closed loop against two instant services
   side by side (1, 4 and 16 connections per arm), requests/s per arm.

``python -m bench.load_gate --runs 5`` prints a JSON summary; the figures are in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rollsafe.config.load_step import LoadStep
from rollsafe.controller.loadgate import measure

SERVICE = Path(__file__).resolve().parent.parent / "tests" / "load" / "slow_service.py"


@contextmanager
def service(delay: float) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, str(SERVICE), str(delay)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        yield f"http://127.0.0.1:{int(process.stdout.readline())}/"
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def detection(
    base: float, factor: float, runs: int, rate: float, duration: float
) -> dict[str, Any]:
    outcomes: dict[str, int] = {"pass": 0, "inconclusive": 0, "fail": 0}
    fail_times: list[float] = []
    for _ in range(runs):
        with service(base) as baseline, service(base * factor) as candidate:
            spec = LoadStep(
                duration=duration,
                rate=rate,
                connections=max(8, int(rate * base * 4)),
                warmup=0.5,
                baseline=baseline,
                candidate=candidate,
            )
            result = measure({"baseline": baseline, "candidate": candidate}, spec)
        outcomes[result.verdict] += 1
        if result.verdict == "fail":
            fail_times.append(result.summary["elapsed"])
    return {
        "base_ms": round(1000 * base),
        "factor": factor,
        **outcomes,
        "median_seconds_to_fail": round(statistics.median(fail_times), 2) if fail_times else None,
    }


def capacity(tool: str, duration: float, connections: int) -> dict[str, Any]:
    with service(0.0) as baseline, service(0.0) as candidate:
        spec = LoadStep(
            duration=duration,
            rate=None,
            connections=connections,
            warmup=0.5,
            tool="wrk" if tool == "wrk" else "builtin",
            baseline=baseline,
            candidate=candidate,
        )
        result = measure({"baseline": baseline, "candidate": candidate}, spec)
    arms = result.summary["arms"]
    return {
        "tool": tool,
        "connections": connections,
        "baseline_rps": arms["baseline"]["rps"],
        "candidate_rps": arms["candidate"]["rps"],
        "p50_ms": arms["baseline"]["p50_ms"],
        "p99_ms": arms["baseline"]["p99_ms"],
        "outcome": result.verdict,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--capacity-only", action="store_true", help="skip the detection runs")
    args = parser.parse_args()
    started = time.monotonic()
    rows = [
        detection(base, factor, args.runs, args.rate, args.duration)
        for base in (0.05, 0.2)
        for factor in (1.0, 1.05, 1.1, 1.2, 1.5)
        if not args.capacity_only
    ]
    tools = ["builtin"] + (["wrk"] if shutil.which("wrk") else [])
    generators = [capacity(tool, 5.0, n) for tool in tools for n in (1, 4, 16)]
    print(
        json.dumps(
            {
                "machine": f"{platform.processor() or platform.machine()}, "
                f"Python {platform.python_version()}",
                "runs": args.runs,
                "rate": args.rate,
                "duration": args.duration,
                "detection": rows,
                "generators": generators,
                "minutes": round((time.monotonic() - started) / 60, 1),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
