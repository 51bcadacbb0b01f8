"""Judge throughput of two source trees side by side (issue 16, item 9).

    python -m bench.judge.throughput_compare --before /path/to/old/src --rounds 5 [--repeats 3]

Each round times ``bench.judge.throughput.measure`` once per tree, in a fresh
subprocess with that tree's ``src`` first on ``PYTHONPATH`` (the benchmark's
stream and timing loop are this tree's for both), alternating which goes first.
Timing uses CPU time (``time.process_time``): on a shared, busy machine wall time
counts other processes' turns too. Prints each round and the medians and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]
CHILD = (
    "import json, sys, time, rollsafe; from bench.judge.throughput import measure; "
    "r = measure(repeats=int(sys.argv[1]), clock=time.process_time); "
    "print(json.dumps({'per_second': r.per_second, 'src': rollsafe.__file__}))"
)


def run(src: Path, repeats: int = 3) -> float:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), str(HERE)]))
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(repeats)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    result = json.loads(done.stdout)
    if not result["src"].startswith(str(src)):
        raise RuntimeError(f"imported {result['src']}, not from {src}")
    return float(result["per_second"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the old tree's src")
    parser.add_argument("--after", type=Path, default=HERE / "src", help="the new tree's src")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--repeats", type=int, default=3, help="passes per process; the fastest counts"
    )
    args = parser.parse_args(argv)
    sides = {"before": args.before.resolve(), "after": args.after.resolve()}
    figures: dict[str, list[float]] = {"before": [], "after": []}
    for round_ in range(args.rounds):
        order = ["before", "after"] if round_ % 2 == 0 else ["after", "before"]
        for side in order:
            figures[side].append(run(sides[side], args.repeats))
        print(
            f"round {round_ + 1}: before {figures['before'][-1]:,.0f}/s, "
            f"after {figures['after'][-1]:,.0f}/s",
            flush=True,
        )
    before, after = (statistics.median(figures[s]) for s in ("before", "after"))
    print(f"median: before {before:,.0f}/s, after {after:,.0f}/s, ratio {after / before:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
