"""Memory leaks under a GC sawtooth, warm-up and restarts: rollsafe's growth test alone.

Each run simulates both arms' resident memory once a second: 200 MB, a shared
slow drift (AR(1), 1 MB), a per-arm GC sawtooth of ``sawtooth`` bytes with a
period of 20-40 s, 0.3 MB of noise. Options: a leak in the canary, a canary
that starts cold (40 MB below its plateau, warm with a 60 s time constant)
against a warm baseline, and process restarts in either arm: memory falls back
to the fresh level (leak gone, 40 MB below the plateau) and warms again; a
leaking canary keeps leaking after its restart.

The growth check (``SlopeCheck`` with the default ``SlopeMetric``) is judged at
the default judge's level (memory's share of alpha 0.01: a fifth, by
``checks.ALPHA_WEIGHTS``), at every reading: once a second, or once every
``--sample-every`` seconds from a random phase (a Prometheus scrape every 15 s).

    python -m bench.judge.leaks [--runs 200] [--healthy-runs 1000] [--sample-every 15]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from bench.judge.simulator import _ar1
from rollsafe.config.analysis import SlopeMetric
from rollsafe.judge.checks import Levels, alpha_shares
from rollsafe.judge.growth import SlopeCheck

MEMORY = 200e6
WARM = 40e6
TAU = 60.0
LIMIT_MB_PER_HOUR = SlopeMetric().limit_bytes_per_hour / 1e6


@dataclass(frozen=True)
class LeakScenario:
    name: str
    seconds: int
    leak_mb_per_hour: float = 0.0
    cold_canary: bool = False
    restart_canary: tuple[float, float] | None = None
    """A canary restart at a uniformly drawn second in this range."""
    restart_every: tuple[float, float] | None = None
    """Restarts in both arms, independently, every this many seconds (uniform)."""
    restart_baseline: tuple[float, float] | None = None
    sawtooth: float = 8e6
    tau: float = TAU
    """Warm-up time constant of a fresh process."""
    goal_seconds: float | None = None
    """A leak must be detected within this (issue 16: >= 95% of runs)."""
    wander: float = 0.0
    """Standard deviation of a slow wander of each arm's own memory (AR(1), 200 s)."""

    @property
    def healthy(self) -> bool:
        """Growth within the default limit (50 MB/h) must not be rolled back."""
        return self.leak_mb_per_hour <= LIMIT_MB_PER_HOUR


SCENARIOS = (
    LeakScenario("healthy: sawtooth only", 1800),
    LeakScenario(
        "healthy: canary cold, warms up 40 MB (60 s time constant)", 1800, cold_canary=True
    ),
    LeakScenario(
        "healthy: canary cold, warms up 40 MB (120 s time constant)",
        1800,
        cold_canary=True,
        tau=120.0,
    ),
    LeakScenario("healthy: canary restarts once (5-25 min)", 1800, restart_canary=(300, 1500)),
    LeakScenario("healthy: baseline restarts once (5-25 min)", 1800, restart_baseline=(300, 1500)),
    LeakScenario("healthy: both arms restart every 4-10 min", 1800, restart_every=(240, 600)),
    LeakScenario("leak 600 MB/h", 600, leak_mb_per_hour=600, goal_seconds=600),
    LeakScenario("leak 600 MB/h, canary cold", 600, 600, cold_canary=True, goal_seconds=600),
    LeakScenario("leak 200 MB/h", 1800, leak_mb_per_hour=200, goal_seconds=1800),
    LeakScenario("leak 200 MB/h, canary cold", 1800, 200, cold_canary=True, goal_seconds=1800),
    LeakScenario(
        "leak 200 MB/h, canary restarts once (3-10 min), keeps leaking",
        1800,
        200,
        restart_canary=(180, 600),
        goal_seconds=1800,
    ),
    LeakScenario(
        "leak 200 MB/h, both arms restart every 4-10 min",
        1800,
        200,
        restart_every=(240, 600),
        goal_seconds=None,
    ),
    # Appended, so the rows above keep their seeds.
    LeakScenario("healthy: canary grows at the limit (50 MB/h)", 1800, leak_mb_per_hour=50),
    LeakScenario("healthy: each arm wanders on its own (2 MB, 200 s)", 1800, wander=2e6),
)


def _restarts(rng: np.random.Generator, scenario: LeakScenario, arm: int) -> list[float]:
    times: list[float] = []
    if arm == 0 and scenario.restart_canary:
        times.append(float(rng.uniform(*scenario.restart_canary)))
    if arm == 1 and scenario.restart_baseline:
        times.append(float(rng.uniform(*scenario.restart_baseline)))
    if scenario.restart_every:
        at = float(rng.uniform(*scenario.restart_every))
        while at < scenario.seconds:
            times.append(at)
            at += float(rng.uniform(*scenario.restart_every))
    return sorted(times)


def simulate_memory(scenario: LeakScenario, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(canary, baseline) resident memory per second."""
    rng = np.random.default_rng(seed)
    seconds = scenario.seconds
    t = np.arange(seconds, dtype=float)
    drift = _ar1(rng, seconds, 0.995, 1e6)
    arms = []
    for arm in range(2):
        period = rng.uniform(20, 40)
        sawtooth = scenario.sawtooth * ((t / period + rng.uniform()) % 1.0)
        cold = arm == 0 and scenario.cold_canary
        since = t.copy() if cold else t + 1e9  # seconds since the process started
        for at in _restarts(rng, scenario, arm):
            since = np.where(t >= at, t - at, since)
        warm = -WARM * np.exp(-since / scenario.tau)
        leak = 0.0
        if arm == 0 and scenario.leak_mb_per_hour:
            started = np.minimum(since, t)  # the leak restarts from zero at a restart
            leak = scenario.leak_mb_per_hour * 1e6 / 3600 * started
        memory = MEMORY + warm + leak + drift + sawtooth + rng.normal(0, 0.3e6, seconds)
        if scenario.wander:  # drawn last: the other scenarios' series stay as they were
            memory = memory + _ar1(rng, seconds, 0.995, scenario.wander)
        arms.append(memory)
    return arms[0], arms[1]


def sample_seconds(seconds: int, every: int, seed: int) -> np.ndarray:
    """The seconds at which memory is read: every ``every`` seconds from a random phase
    (a scrape's phase is unrelated to the process's start or its collections)."""
    phase = int(np.random.default_rng((seed, 1)).integers(every)) if every > 1 else 0
    return np.arange(phase, seconds, every)


def detect(
    canary: np.ndarray,
    baseline: np.ndarray,
    metric: SlopeMetric | None = None,
    every: int = 1,
    seed: int = 0,
) -> float | None:
    """The second at which the growth check fails (None: never), reading every ``every`` s."""
    check = SlopeCheck(metric or SlopeMetric())
    # The default judge's level for memory: its share of alpha among error rate, ceiling,
    # latency and memory.
    levels = Levels(0.01, 4, alpha_shares(["ratio", "ceiling", "histogram", "slope"])[-1])
    seconds = sample_seconds(canary.size, every, seed)
    for second, c, b in zip(
        seconds.tolist(), canary[seconds].tolist(), baseline[seconds].tolist(), strict=True
    ):
        check.update(float(second), c, b)
        if check.fails(levels):
            return float(second)
    return None


def _one(task: tuple[LeakScenario, int, int]) -> float | None:
    scenario, seed, every = task
    return detect(*simulate_memory(scenario, seed), every=every, seed=seed)


def _fmt(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.judge.leaks", description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="runs per leak scenario")
    parser.add_argument("--healthy-runs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--sample-every",
        type=int,
        default=1,
        metavar="SECONDS",
        help="read memory once every this many seconds (15: a typical Prometheus scrape)",
    )
    parser.add_argument(
        "--only",
        choices=("all", "healthy", "leaks"),
        default="all",
        help="run only the healthy scenarios or only the leaks",
    )
    parser.add_argument(
        "--wander-mb",
        type=float,
        default=2.0,
        help="the wandering row's standard deviation of each arm's own memory (MB)",
    )
    args = parser.parse_args(argv)
    scenarios = [
        dataclasses.replace(
            scenario,
            name=f"healthy: each arm wanders on its own ({args.wander_mb:g} MB, 200 s)",
            wander=args.wander_mb * 1e6,
        )
        if scenario.wander
        else scenario
        for scenario in SCENARIOS
    ]
    started = time.perf_counter()
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print(f"memory read every {args.sample_every} s")
    print("| scenario | runs | detected (rolled back) | median / p90 delay | goal | met |")
    print("|---|---|---|---|---|---|")
    with ProcessPoolExecutor(args.workers) as pool:
        for index, scenario in enumerate(scenarios):
            healthy = scenario.healthy
            if args.only != "all" and healthy != (args.only == "healthy"):
                continue
            runs = args.healthy_runs if healthy else args.runs
            seeds = [1_000_000 * index + i for i in range(runs)]
            tasks = [(scenario, s, args.sample_every) for s in seeds]
            delays = list(pool.map(_one, tasks, chunksize=10))
            hits = sorted(d for d in delays if d is not None)
            share = len(hits) / runs
            delay = "-"
            if hits:
                p90 = hits[min(len(hits) - 1, math.ceil(0.9 * len(hits)) - 1)]
                delay = f"{_fmt(statistics.median(hits))} / {_fmt(p90)}"
            if healthy:
                goal, met = "≤ 1% rolled back", share <= 0.01
            elif scenario.goal_seconds is not None:
                within = sum(d <= scenario.goal_seconds for d in hits) / runs
                goal = f"≥ 95% within {_fmt(scenario.goal_seconds)}"
                met = within >= 0.95
            else:
                goal, met = "(no goal)", None
            mark = "n/a" if met is None else ("met" if met else "missed")
            print(f"| {scenario.name} | {runs} | {100 * share:.1f}% | {delay} | {goal} | {mark} |")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
