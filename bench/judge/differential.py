"""Digests of the judge's verdicts on the benchmark's scenarios, to compare two source trees.

    PYTHONPATH=<a tree's src>:. python -m bench.judge.differential [--seconds 600] [--seeds 2]

For every healthy and regression scenario of ``bench/judge/scenarios.py`` and each seed,
the stream of ``bench/judge/simulator.py`` goes through ``Judge.update`` with a fresh judge
after every final verdict; every look's verdict (``to_dict()``: reason, metrics, e-values,
bounds, early-pass evidence) is hashed. Prints one digest per stream, the number of
decisions and one digest of all: run under two trees, equal digests mean the same floats.
Every look's verdict is kept until the next (its metrics read after that look): that
exercises the snapshot a held verdict gets.
"""

from __future__ import annotations

import argparse
import hashlib
import json

from bench.judge.scenarios import HEALTHY, REGRESSIONS
from bench.judge.simulator import observations, simulate
from rollsafe.judge import Judge


def digest(scenario_index: int, seconds: int, seed: int) -> tuple[str, int]:
    scenario = (*HEALTHY, *REGRESSIONS)[scenario_index]
    run = simulate(scenario, seconds, seed=seed)
    hasher = hashlib.sha256()
    decisions = 0
    judge = Judge()
    previous = None
    for observation in observations(run):
        verdict = judge.update(observation)
        if previous is not None and previous is not verdict:
            # Read after the next look changed the checks: the held verdict's own snapshot.
            hasher.update(json.dumps(previous.to_dict(), sort_keys=True).encode())
        previous = verdict
        if verdict.decided_at is not None:
            hasher.update(json.dumps(verdict.to_dict(), sort_keys=True).encode())
            decisions += 1
            judge, previous = Judge(), None
    return hasher.hexdigest()[:16], decisions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args(argv)
    everything = hashlib.sha256()
    total = 0
    for index, scenario in enumerate((*HEALTHY, *REGRESSIONS)):
        for seed in range(args.seeds):
            value, decisions = digest(index, args.seconds, seed)
            total += decisions
            everything.update(value.encode())
            print(f"{value} {decisions:3d} decisions  {scenario.name} (seed {seed})", flush=True)
    print(f"all: {everything.hexdigest()[:16]}, {total} decisions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
