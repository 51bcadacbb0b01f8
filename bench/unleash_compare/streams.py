"""The streams goal of issue 12: 10,000 open SSE streams on one server process.

``python -m bench.unleash_compare.streams [--clients 10000] [--changes 50] [--before SRC]``: one
``rollsafe server``, ``--clients`` bare SSE connections read by two processes
(`bench.flags.rawreader`), flags turned on one by one through the admin API.
Propagation is commit to arrival (`bench.flags.propagation`); memory is the
server's whole RSS once every stream is open. Run for rollsafe's own
``/api/client/stream`` and for Unleash's ``/api/client/streaming`` (the same
events); also run by ``python -m bench.unleash_compare`` unless ``--no-streams``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.flags import propagation

GOAL_P99_MS = 250.0
GOAL_RSS_MB = 200.0
PATHS = ("/api/client/stream", "/api/client/streaming")


BEFORE = "(before)"


@dataclass
class StreamsResult:
    path: str
    run: propagation.PropagationResult
    label: str = ""
    """``(before)`` for a run of the ``--before`` server, else empty."""

    @property
    def p99(self) -> float:
        return self.run.percentile(99)

    @property
    def met(self) -> bool:
        return (
            self.run.missing == 0
            and self.p99 <= GOAL_P99_MS
            and self.run.rss_after_mb <= GOAL_RSS_MB
        )


def measure(
    clients: int = 10_000,
    changes: int = 50,
    interval: float = 0.5,
    before: Path | None = None,
) -> list[StreamsResult]:
    """Each path with the installed rollsafe; with ``before`` (a ``src`` directory), each
    path with that one's server too, right after, for a side-by-side comparison."""
    out = []
    versions: list[tuple[str, Path | None]] = [("", None)]
    if before is not None:
        versions.append((BEFORE, before))
    for path in PATHS:
        for label, src in versions:
            print(f"streams: {clients} on {path} {label}...", file=sys.stderr, flush=True)
            run = propagation.measure(
                "raw", clients, 2, changes, interval, path=path, server_src=src
            )
            out.append(_report(StreamsResult(path, run, label)))
    return out


def _report(result: StreamsResult) -> StreamsResult:
    run = result.run
    print(
        f"  p50 {run.percentile(50):.0f} ms p99 {result.p99:.0f} ms max "
        f"{max(run.latencies_ms, default=float('nan')):.0f} ms missed {run.missing} "
        f"server RSS {run.rss_before_mb:.0f} -> {run.rss_after_mb:.0f} MB, "
        f"CPU/change {run.server_cpu_ms:.0f} ms",
        file=sys.stderr,
        flush=True,
    )
    return result


def render(results: list[StreamsResult]) -> str:
    if not results:
        return ""
    first = results[0].run
    lines = [
        f"Streams: {first.clients:,} open SSE streams on one `rollsafe server` process, read by "
        f"two bare-socket processes (`bench.flags.rawreader`) on the same two cores; "
        f"{first.changes} flags turned on one by one every {first.interval} s through the admin "
        "API; propagation = arrival minus the record's commit stamp.",
        "",
        "| stream | p50 | p90 | p99 | max | missed | server RSS before / with streams | "
        "server CPU / change |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        run = result.run
        lines.append(
            f"| `{result.path}`{_suffix(result)} | {run.percentile(50):.0f} ms | "
            f"{run.percentile(90):.0f} ms | "
            f"{result.p99:.0f} ms | {max(run.latencies_ms, default=float('nan')):.0f} ms | "
            f"{run.missing} | {run.rss_before_mb:.0f} / {run.rss_after_mb:.0f} MB | "
            f"{run.server_cpu_ms:.0f} ms |"
        )
    lines.append("")
    for result in results:
        mark = "met" if result.met else "**missed**"
        lines.append(
            f"- Goal {result.run.clients:,} streams, p99 ≤ {GOAL_P99_MS:.0f} ms, server memory ≤ "
            f"{GOAL_RSS_MB:.0f} MB, `{result.path}`{_suffix(result)}: p99 {result.p99:.0f} ms, "
            f"{result.run.rss_after_mb:.0f} MB, {result.run.missing} missed — {mark}."
        )
    return "\n".join(lines)


def _suffix(result: StreamsResult) -> str:
    return f" {result.label}" if result.label else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.unleash_compare.streams")
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument(
        "--before",
        type=Path,
        help="a src directory (e.g. of `git archive main src`): its server is run too, "
        "right after each run of the installed one, for a side-by-side comparison",
    )
    args = parser.parse_args(argv)
    print(render(measure(args.clients, args.changes, args.interval, args.before)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
