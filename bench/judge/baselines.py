"""The judges rollsafe is compared with, as today's tools judge canaries.

- Kayenta-style (Netflix/Spinnaker's NetflixACAJudge, MannWhitneyClassifier):
  every minute, on all data since the start, each metric's canary series is
  compared with the baseline series by a Mann-Whitney test; the metric is
  "High" when the lower end of the 98% Hodges-Lehmann interval of the shift
  (canary - baseline) exceeds ``tolerance`` (0.25) times the absolute shift
  estimate. Any High metric rolls back. Series are 10-second aggregates: error
  rate, mean latency, mean memory.
- Flagger-style: every 1-minute window, the canary alone is checked against
  fixed thresholds (error rate, p99 latency, memory growth); a rollback comes
  after N failed checks (N = 1 and N = 5; failed checks accumulate).
"""

from __future__ import annotations

import math

import numpy as np

from bench.judge.simulator import BOUNDS, MEDIAN, SIGMA, Run

STEP = 10
Z_98 = 2.3263478740408408


def _windows(values: np.ndarray, step: int) -> np.ndarray:
    """Sum over consecutive windows of ``step`` seconds along the last axis."""
    usable = values.shape[-1] // step * step
    shape = (*values.shape[:-1], usable // step, step)
    result: np.ndarray = values[..., :usable].reshape(shape).sum(axis=-1)
    return result


def _mean_latency(buckets: np.ndarray) -> np.ndarray:
    """Mean latency per window from bucket counts, each bucket at its midpoint."""
    edges = np.array((0.0, *BOUNDS))
    mids = np.append((edges[:-1] + edges[1:]) / 2, BOUNDS[-1] * 1.5)
    per_bucket = np.diff(buckets, axis=-1, prepend=0.0)
    total = buckets[..., -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        result: np.ndarray = (per_bucket * mids).sum(axis=-1) / total
    return result


def hodges_lehmann_high(canary: np.ndarray, baseline: np.ndarray, tolerance: float) -> bool:
    """Kayenta's High classification with a 98% interval from pairwise differences."""
    canary, baseline = canary[np.isfinite(canary)], baseline[np.isfinite(baseline)]
    n, m = canary.size, baseline.size
    if n == 0 or m == 0:
        return False
    if np.unique(np.concatenate([canary, baseline])).size == 1:
        return False
    differences = np.subtract.outer(canary, baseline).ravel()
    count = differences.size
    k = math.floor(n * m / 2 - Z_98 * math.sqrt(n * m * (n + m + 1) / 12))
    k = min(max(k, 0), count - 1)
    upper_index = count - 1 - k
    parted = np.partition(differences, (k, count // 2, upper_index))
    lower, estimate = parted[k], parted[count // 2]
    return bool(lower > tolerance * abs(estimate))


def kayenta(run: Run, tolerance: float = 0.25, every: int = 60) -> float | None:
    """Seconds until the first rollback, or None."""
    requests = _windows(run.requests, STEP)
    errors = _windows(run.errors, STEP)
    with np.errstate(invalid="ignore", divide="ignore"):
        error_rate = errors / requests
    buckets = np.stack([_windows(run.buckets[arm].T, STEP).T for arm in range(2)])
    latency = _mean_latency(buckets)
    memory = _windows(run.memory, STEP) / STEP
    per_look = every // STEP
    for look in range(1, requests.shape[1] // per_look + 1):
        n = look * per_look
        for series in (error_rate, latency, memory):
            if hodges_lehmann_high(series[0, :n], series[1, :n], tolerance):
                return float(look * every)
    return None


def nominal_p99() -> float:
    return MEDIAN * math.exp(SIGMA * Z_98)


def _p99(cumulative: np.ndarray) -> float:
    total = cumulative[-1]
    if total <= 0:
        return 0.0
    rank = 0.99 * total
    previous_bound, previous = 0.0, 0.0
    for bound, count in zip(BOUNDS, cumulative[:-1].tolist(), strict=True):
        if count >= rank:
            span = count - previous
            return previous_bound + (bound - previous_bound) * (
                (rank - previous) / span if span else 1
            )
        previous_bound, previous = bound, count
    return BOUNDS[-1]


def flagger(
    run: Run,
    error_threshold: float,
    p99_threshold: float,
    growth_threshold: float = 300e6,
    window: int = 60,
    checks: tuple[int, ...] = (1, 5),
) -> dict[int, float | None]:
    """Seconds until the rollback after N failed checks, for each N in ``checks``."""
    found: dict[int, float | None] = dict.fromkeys(checks)
    failed = 0
    seconds = np.arange(window, dtype=float)
    centred = seconds - seconds.mean()
    for start in range(0, run.seconds - window + 1, window):
        end = start + window
        requests = run.requests[0, start:end].sum()
        error_rate = run.errors[0, start:end].sum() / requests if requests else 0.0
        p99 = _p99(run.buckets[0, start:end].sum(axis=0))
        memory = run.memory[0, start:end]
        growth = float(centred @ (memory - memory.mean()) / (centred @ centred)) * 3600
        if error_rate > error_threshold or p99 > p99_threshold or growth > growth_threshold:
            failed += 1
            for n in checks:
                if failed == n:
                    found[n] = float(end)
    return found
