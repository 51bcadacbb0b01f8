"""False trips of guards on healthy services: natural error rates of 0.1-1% at 5-100 req/s.

A healthy service has a natural error rate below the guard's threshold, and the
guards run for the whole rollout. Two guard sets are measured: the plan default
(``DEFAULT_GUARDS``) and the demo plan's (which users copy: seconds-long windows,
a canary guard at 2%, the canary at 10% of the traffic). Each is evaluated two
ways on the same simulated traffic:

- *evidence*: rollsafe's ``GuardEvaluator`` (a rate guard's condition holds when
  the rate's lower confidence bound is above the threshold, with minimum counts);
- *value*: the rule before issue 16 and Prometheus alerting's, the window's rate
  above the threshold, with the same ``for``, ``grace`` and ``min_requests``.

A run is one hour of one look per second; a trip is a critical or major guard
rolling back (minor guards only notify and are not counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
import yaml

from rollsafe.config.guards import DEFAULT_GUARDS, Guard
from rollsafe.guards import GuardEvaluator

RATES = (0.001, 0.005, 0.01)
TRAFFIC = (5.0, 20.0, 100.0)
"""Requests per second, both arms together."""
CANARY_SHARE = 0.1
SECONDS = 3600


def demo_guards() -> tuple[Guard, ...]:
    text = resources.files("rollsafe.demo").joinpath("plan.yaml").read_text()
    return tuple(Guard.model_validate(raw) for raw in yaml.safe_load(text)["guards"])


GUARD_SETS: dict[str, tuple[Guard, ...]] = {
    "default guards": DEFAULT_GUARDS,
    "demo plan's guards": demo_guards(),
}


@dataclass(frozen=True)
class Cell:
    guards: str
    rate: float
    rps: float


def traffic(rate: float, rps: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative (requests, errors) per second, shape (2, T): canary then baseline."""
    rng = np.random.default_rng(seed)
    shares = np.array([[CANARY_SHARE], [1 - CANARY_SHARE]])
    requests = rng.poisson(rps * shares, (2, SECONDS))
    errors = rng.binomial(requests, rate)
    return np.cumsum(requests, axis=1).astype(float), np.cumsum(errors, axis=1).astype(float)


def trips_on_evidence(guards: tuple[Guard, ...], requests: np.ndarray, errors: np.ndarray) -> bool:
    evaluator = GuardEvaluator(guards)
    req, err = requests.tolist(), errors.tolist()
    for t in range(requests.shape[1]):
        look = [
            {"t": float(t), "arm": arm, "requests": req[i][t], "errors": err[i][t]}
            for i, arm in enumerate(("canary", "baseline"))
        ]
        if any(event.trips for event in evaluator.update(float(t), look)):
            return True
    return False


def trips_on_value(guards: tuple[Guard, ...], requests: np.ndarray, errors: np.ndarray) -> bool:
    """The same guards with the condition ``window rate > threshold`` (vectorised)."""
    for guard in guards:
        if guard.metric != "error_rate" or guard.severity == "minor":
            continue
        rows = {"canary": [0], "baseline": [1], "all": [0, 1]}[guard.arm]
        n, x = requests[rows].sum(axis=0), errors[rows].sum(axis=0)
        width = int(guard.window)
        n_window = n[width:] - n[:-width]
        x_window = x[width:] - x[:-width]
        enough = n_window >= max(guard.min_requests, 1)
        holds = enough & (x_window > guard.threshold * np.maximum(n_window, 1))
        # The condition must hold at every look for `for`, then `grace` more (major).
        needed = int(guard.for_ + guard.grace) + 1
        run = 0
        for value in holds.tolist():
            run = run + 1 if value else 0
            if run >= needed:
                return True
    return False


def cells() -> list[Cell]:
    return [Cell(name, rate, rps) for name in GUARD_SETS for rate in RATES for rps in TRAFFIC]


def measure_cell(task: tuple[Cell, int]) -> tuple[int, int, int]:
    """(runs, trips on evidence, trips on value) of one cell; both rules see the same traffic."""
    cell, runs = task
    guards = GUARD_SETS[cell.guards]
    evidence = value = 0
    for run in range(runs):
        requests, errors = traffic(cell.rate, cell.rps, 50_000 + run)
        evidence += trips_on_evidence(guards, requests, errors)
        value += trips_on_value(guards, requests, errors)
    return runs, evidence, value
