"""Judge throughput of two source trees in one process, interleaved (issue 16, item 9).

    python -m bench.judge.throughput_interleaved --before /path/to/old/src --rounds 60

``throughput_compare`` runs each tree in its own process, one after the other: on a
machine shared with other work whose load changes from second to second, the two sides
of a round can see very different loads (five rounds of the same code gave medians from
0.95x to 1.6x). Here both judges run in this process, alternating pass by pass (one
pass: the stream of ``bench.judge.throughput``, a fresh judge after each final
verdict), so both see the same interference. The old tree's ``rollsafe`` package is
copied to a temporary directory as ``rollsafe_before``, its imports renamed; the stream
is built once, by this tree. CPU time (``time.process_time``) per update; prints the
minimum, lower quartile and median of each side and their ratios (the minimum is the
pass least disturbed by other work).
"""

from __future__ import annotations

import argparse
import importlib
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.judge.scenarios import HEALTHY
from bench.judge.simulator import observations, simulate
from rollsafe.judge import Judge

_RENAMES = (
    (re.compile(r"\brollsafe\."), "rollsafe_before."),
    (re.compile(r"\bfrom rollsafe import\b"), "from rollsafe_before import"),
    (re.compile(r"^import rollsafe$", re.MULTILINE), "import rollsafe_before"),
)


def load_before(src: Path, into: Path) -> Any:
    """``src``'s rollsafe package as ``rollsafe_before``; returns its ``Judge``."""
    target = into / "rollsafe_before"
    shutil.copytree(src / "rollsafe", target)
    for path in target.rglob("*.py"):
        text = path.read_text()
        for pattern, replacement in _RENAMES:
            text = pattern.sub(replacement, text)
        path.write_text(text)
    sys.path.insert(0, str(into))
    return importlib.import_module("rollsafe_before.judge").Judge


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the old tree's src")
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args(argv)
    stream = list(observations(simulate(HEALTHY[1], 3000, seed=12345)))

    def one_pass(judge_class: Any) -> float:
        judge = judge_class()
        started = time.process_time()
        for observation in stream:
            if judge.update(observation).decided_at is not None:
                judge = judge_class()
        return (time.process_time() - started) / len(stream) * 1e6

    with tempfile.TemporaryDirectory() as scratch:
        sides = {"before": load_before(args.before.resolve(), Path(scratch)), "after": Judge}
        figures: dict[str, list[float]] = {"before": [], "after": []}
        for round_ in range(args.rounds):
            order = ["before", "after"] if round_ % 2 == 0 else ["after", "before"]
            for side in order:
                figures[side].append(one_pass(sides[side]))
    summary = {}
    for side, values in figures.items():
        quartile = statistics.quantiles(values, n=4)[0]
        summary[side] = (min(values), quartile, statistics.median(values))
        low, q1, median = summary[side]
        print(
            f"{side:6s} µs per update: min {low:.2f}, lower quartile {q1:.2f}, "
            f"median {median:.2f} (min {1e6 / low:,.0f}/s)"
        )
    ratios = [b / a for b, a in zip(summary["before"], summary["after"], strict=True)]
    print("before / after: min {:.3f}x, lower quartile {:.3f}x, median {:.3f}x".format(*ratios))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
