"""``python -m bench.router_metrics``: how fast, how cheap and how steady router metrics are.

1. Transports, side by side at ``--compare-rate`` requests/s for
   ``--compare-seconds`` each, looking every second as the controller does: the
   records file (what rollsafe uses) against nginx's syslog output to a unix
   datagram socket, read at each look or by a thread of its own.
2. The file at ``--rate`` requests/s for ``--duration`` seconds, looking every
   ``--look-every`` seconds: the delay from a response to the look that counts
   it, the source's CPU per 1,000 requests/s, and its memory over time.

Prints the figures for docs/benchmarks.md. Needs /usr/sbin/nginx; runs nginx
as the current user (root: workers as nobody).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from bench.router_metrics.run import TRANSPORTS, Run, measure, percentile
from bench.router_metrics.servers import Instances


def _machine() -> str:
    with open("/proc/cpuinfo") as cpuinfo:
        model = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), "?"
        )
    return (
        f"{model}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}, "
        f"Linux {platform.release()}; load average {os.getloadavg()[0]:.1f} at the start"
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _describe(run: Run) -> str:
    return (
        f"{run.transport:16} {run.achieved_rate:7.0f} req/s  counted {run.counted:8.0f}  "
        f"lost {run.lost:6.0f} ({100 * run.lost / max(1, run.counted + run.lost):.1f}%)  "
        f"cpu {run.cpu_percent:5.2f}% ({run.cpu_percent_per_1000:.2f}% per 1000 req/s)  "
        f"delay p50 {_ms(percentile(run.delays, 0.5))} p99 {_ms(percentile(run.delays, 0.99))} "
        f"max {_ms(max(run.delays, default=float('nan')))}; looking every 1 s: "
        f"p99 {_ms(percentile(run.delays_1s, 0.99))}  malformed {run.malformed}"
    )


def _memory(run: Run) -> str:
    settled = [rss for t, rss in run.rss if t >= min(30.0, run.seconds / 4)]
    if not settled:
        return "no samples"
    mib = 1 << 20
    return (
        f"RSS after warm-up {settled[0] / mib:.1f} MiB, max {max(settled) / mib:.1f} MiB, "
        f"at the end {settled[-1] / mib:.1f} MiB ({len(settled)} samples, one a second)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.router_metrics", description=__doc__)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--duration", type=float, default=60, help="seconds; 600 for the goal")
    parser.add_argument("--look-every", type=float, default=0.1)
    parser.add_argument("--compare-rate", type=float, default=1000)
    parser.add_argument("--compare-seconds", type=float, default=15)
    parser.add_argument("--only", choices=["compare", "file"])
    args = parser.parse_args(argv)
    print(f"machine: {_machine()}", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-router-") as tmp:
        workdir = Path(tmp)
        os.chmod(workdir, 0o755)  # noqa: S103 - nginx workers run as nobody
        instances = Instances(workdir / "instances")
        instances.start()
        try:
            if args.only in (None, "compare"):
                for transport in TRANSPORTS:
                    run = measure(
                        transport,
                        instances,
                        workdir,
                        rate=args.compare_rate,
                        seconds=args.compare_seconds,
                        look_every=1.0,
                    )
                    print(_describe(run), flush=True)
            if args.only in (None, "file"):
                run = measure(
                    "file",
                    instances,
                    workdir,
                    rate=args.rate,
                    seconds=args.duration,
                    look_every=args.look_every,
                )
                print(_describe(run), flush=True)
                print(f"memory: {_memory(run)}", flush=True)
                print("rss: " + " ".join(f"{t:g}:{rss >> 10}" for t, rss in run.rss[::10]))
        finally:
            instances.stop()
    print(f"took {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
