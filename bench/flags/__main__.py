"""``python -m bench.flags``: flag evaluation and propagation benchmarks; rewrites their part
of docs/benchmarks.md.

Options: ``--only evaluation|propagation``, ``--changes N`` (default 100),
``--clients N`` (default 1000), ``--no-write`` to only print. Takes about three
minutes on two cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from bench.flags import evaluation, propagation
from bench.flags.report import render, replace_section

DOCS = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"


def _machine() -> str:
    uname = " ".join(os.uname())  # what `uname -a` prints, less the processor fields
    cores = len(os.sched_getaffinity(0))  # what `nproc` prints
    # Other work on a shared machine moves the latencies a lot: say how busy it was.
    load = os.getloadavg()[0]
    return (
        f"`{uname}`, {cores} cores (`nproc`), Python {platform.python_version()}; "
        f"load average {load:.2f} when the run started"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.flags", description=__doc__)
    parser.add_argument("--only", choices=["evaluation", "propagation"])
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    started = time.monotonic()
    result = None
    runs: list[propagation.PropagationResult] = []
    if args.only in (None, "evaluation"):
        print("evaluation latency ...", flush=True)
        result = evaluation.measure()
        for timing in result.timings:
            print(f"  {timing.flag:16} {timing.implementation:44} {timing.median_ns:9.0f} ns")
    if args.only in (None, "propagation"):
        plans = [
            ("raw", args.clients, 1, 0.2),
            ("sdk", args.clients, 4, 0.5),
            ("sdk", max(1, args.clients // 5), 2, 0.2),
        ]
        for kind, clients, processes, interval in plans:
            print(f"propagation: {clients} {kind} clients in {processes} processes ...", flush=True)
            run = propagation.measure(kind, clients, processes, args.changes, interval)
            runs.append(run)
            print(
                f"  p50 {run.percentile(50):.0f} ms  p99 {run.percentile(99):.0f} ms  "
                f"missed {run.missing}  {run.mb_per_1000_streams:.1f} MB/1000 streams",
                flush=True,
            )
    command = "python -m bench.flags" + (" " + " ".join(argv or sys.argv[1:])).rstrip()
    section = render(
        result, runs, command=command, machine=_machine(), elapsed=time.monotonic() - started
    )
    print(section)
    if not args.no_write:
        DOCS.write_text(replace_section(DOCS.read_text(), section))
        print(f"wrote {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
