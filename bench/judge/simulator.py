"""Per-second observations of two arms, with the nuisances real services have.

One run simulates ``seconds`` looks. Everything is drawn per second with numpy,
then turned into what each judge reads: cumulative Observation dicts for
rollsafe, per-second arrays for the Kayenta-style and Flagger-style judges.

Nuisances (each a switch of :class:`Scenario`):

- ``diurnal``: total traffic and latency follow a cycle (±50% traffic) over 30 minutes;
- ``noise``: autocorrelated (AR(1)) noise on error rate and latency, shared by the arms,
  plus a small per-arm part;
- ``incidents``: about one incident per 5 minutes, 20-120 s long, multiplying the error
  rate by 5-30 and latency by 1.5-3 in both arms;
- ``heterogeneity``: the canary runs on a different instance than the baseline; its error
  rate differs by up to ±15% and its latency by up to ±3% (inside the default margins);
- ``shares``: the canary's traffic share moves 10% → 25% → 50% in thirds of the run;
- ``bursts``: rare error bursts (20% errors, 10-30 s) in both arms;
- ``cold_start``: the canary is a freshly started process, three times slower at first and
  warm after about ten seconds (latency factor ``1 + 2 exp(-t / 3 s)``);
- ``crashes``: the canary alone crashes every 2-4 minutes: 5-15 s at 60% errors, then its
  process restarts and its counters start again from zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import signal, special

BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0)
"""Histogram bucket bounds in seconds (like Prometheus' defaults, finer around 50-300 ms)."""
MEDIAN = 0.05
SIGMA = 0.5
MEMORY = 200e6


@dataclass(frozen=True)
class Scenario:
    name: str
    healthy: bool
    rps: float = 50.0
    """Requests per second per arm at a 50% share (total traffic is twice this)."""
    share: float = 0.5
    """The canary's share of the traffic (unless ``shares`` moves it)."""
    error_rate: float = 0.01
    canary_error_rate: float | None = None
    median_factor: float = 1.0
    sigma_factor: float = 1.0
    tail_factor: float = 1.0
    """Canary p99 multiplied by this, beyond the p95 (median unchanged)."""
    leak_bytes_per_hour: float = 0.0
    diurnal: bool = False
    noise: bool = False
    incidents: bool = False
    heterogeneity: bool = False
    shares: bool = False
    bursts: bool = False
    crashes: bool = False
    cold_start: bool = False
    note: str = ""

    @property
    def has_oracle(self) -> bool:
        """Whether the oracle models this regression (errors and latency do, memory does not)."""
        return not self.healthy and not self.leak_bytes_per_hour


@dataclass
class Run:
    """One simulated run: per-second arrays, index 0 canary, 1 baseline."""

    requests: np.ndarray  # (2, T)
    errors: np.ndarray  # (2, T)
    buckets: np.ndarray  # (2, T, K+1): per-second counts at or below each bound, then total
    memory: np.ndarray  # (2, T)
    bad: np.ndarray  # (T,) canary requests harmed by the regression, per second
    resets: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    """Seconds at whose start the canary process restarted (its counters restart)."""
    oracle: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """(T,) the oracle's per-second log-likelihood ratio: the canary's data under its true
    error rate and latency against the same under the healthy ones (zero when healthy)."""

    @property
    def seconds(self) -> int:
        return int(self.requests.shape[1])


def _ar1(rng: np.random.Generator, seconds: int, phi: float, sd: float) -> np.ndarray:
    """A stationary AR(1) series with standard deviation ``sd``."""
    shocks = rng.normal(0, sd * math.sqrt(1 - phi * phi), seconds)
    shocks[0] = rng.normal(0, sd)
    out: np.ndarray = signal.lfilter([1.0], [1.0, -phi], shocks)
    return out


def _episodes(
    rng: np.random.Generator, seconds: int, every: float, low: float, high: float
) -> list[tuple[int, int]]:
    """Random (start, end) second ranges: about one per ``every`` seconds."""
    result = []
    for start in rng.uniform(0, seconds, rng.poisson(seconds / every)).tolist():
        length = rng.uniform(low, high)
        result.append((int(start), min(seconds, int(start + length))))
    return result


def _cdf(bounds: np.ndarray, median: np.ndarray, sigma: float | np.ndarray) -> np.ndarray:
    """Lognormal CDF at each bound, per second: shape (T, K)."""
    z = (np.log(bounds)[None, :] - np.log(median)[:, None]) / np.asarray(sigma).reshape(-1, 1)
    result: np.ndarray = special.ndtr(z)
    return result


def simulate(scenario: Scenario, seconds: int, seed: int) -> Run:
    rng = np.random.default_rng(seed)
    t = np.arange(seconds, dtype=float)
    # Traffic.
    load = np.ones(seconds)
    if scenario.diurnal:
        load = 1 + 0.5 * np.sin(2 * math.pi * t / 1800 + rng.uniform(0, 2 * math.pi))
    share = np.full(seconds, scenario.share)
    if scenario.shares:
        share = np.where(t < seconds / 3, 0.1, np.where(t < 2 * seconds / 3, 0.25, 0.5))
    total = 2 * scenario.rps * load
    requests = rng.poisson(np.stack([total * share, total * (1 - share)])).astype(float)
    # Error rates: a common factor, per-arm factors, incidents.
    common = _ar1(rng, seconds, 0.95, 0.1)
    latency_common = _ar1(rng, seconds, 0.95, 0.02)
    own = np.zeros((2, seconds))
    if scenario.noise:
        common += _ar1(rng, seconds, 0.98, 0.5)
        latency_common += _ar1(rng, seconds, 0.98, 0.1)
        own = np.stack([_ar1(rng, seconds, 0.9, 0.03) for _ in range(2)])
    error_factor = np.exp(common)[None, :] * np.exp(own)
    latency_factor = np.exp(latency_common) * (1 + 0.3 * (load - 1))
    if scenario.incidents:
        for start, end in _episodes(rng, seconds, 300, 20, 120):
            error_factor[:, start:end] *= rng.uniform(5, 30)
            latency_factor[start:end] *= rng.uniform(1.5, 3)
    base = np.full((2, seconds), scenario.error_rate)
    if scenario.canary_error_rate is not None:
        base[0] = scenario.canary_error_rate
    canary_latency = 1.0
    if scenario.heterogeneity:
        base[0] *= float(np.clip(rng.lognormal(0, 0.07), 0.87, 1.15))
        canary_latency = float(np.clip(rng.lognormal(0, 0.02), 0.97, 1.03))
    p = np.minimum(base * error_factor, 1.0)
    healthy = np.minimum(scenario.error_rate * error_factor[0], 1.0)
    resets: list[int] = []
    if scenario.crashes:
        start = int(rng.uniform(30, 120))
        while start < seconds:
            end = min(seconds, start + int(rng.uniform(5, 15)))
            p[0, start:end] = 0.6
            resets.append(end)
            start = end + int(rng.uniform(120, 240))
    errors = rng.binomial(requests.astype(np.int64), p).astype(float)
    # Latency histograms, per second, per arm.
    bounds = np.array(BOUNDS)
    cold = 1 + 2 * np.exp(-t / 3) if scenario.cold_start else 1.0
    medians = [MEDIAN * latency_factor * canary_latency * scenario.median_factor * cold]
    medians.append(MEDIAN * latency_factor)
    sigmas = [SIGMA * scenario.sigma_factor, SIGMA]
    cdfs = [_cdf(bounds, medians[0], sigmas[0]), _cdf(bounds, medians[1], sigmas[1])]
    if scenario.tail_factor != 1.0:
        cdfs[0] = _stretched_tail(bounds, medians[0], scenario.tail_factor)
    buckets = np.empty((2, seconds, len(bounds) + 1))
    for arm in range(2):
        probabilities = np.diff(cdfs[arm], axis=1, prepend=0.0, append=1.0)
        probabilities = np.clip(probabilities, 0.0, None)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        counts = rng.multinomial(requests[arm].astype(np.int64), probabilities)
        buckets[arm] = np.cumsum(counts, axis=1)
    # Memory: leak, shared slow drift, per-arm GC sawtooth and noise.
    drift = _ar1(rng, seconds, 0.995, 1e6)
    memory = np.empty((2, seconds))
    for arm in range(2):
        period = rng.uniform(20, 40)
        sawtooth = 4e6 * ((t / period + rng.uniform()) % 1.0)
        leak = scenario.leak_bytes_per_hour / 3600 * t if arm == 0 else 0.0
        # Both arms are fresh processes (Kayenta's advice: a new baseline, not the old fleet).
        memory[arm] = MEMORY + leak + drift + sawtooth + rng.normal(0, 0.3e6, seconds)
    healthy_cdf = _cdf(bounds, MEDIAN * latency_factor * canary_latency, SIGMA)
    return Run(
        requests,
        errors,
        buckets,
        memory,
        _harm(scenario, requests, p, cdfs),
        np.array(resets),
        _oracle(requests[0], errors[0], buckets[0], (p[0], healthy), (cdfs[0], healthy_cdf)),
    )


def _oracle(
    requests: np.ndarray,
    errors: np.ndarray,
    buckets: np.ndarray,
    rates: tuple[np.ndarray, np.ndarray],
    cdfs: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Per-second log-likelihood ratio of the canary's data, true model against healthy.

    Wald's SPRT on its running sum is the fastest test at its error level that knows
    the healthy and the regressed rates and latency distributions exactly, so its delay
    is the floor for any judge on the same data. Errors and latency buckets are
    treated as independent, as the simulator draws them.
    """
    worse, healthy = (np.clip(rate, 1e-12, 1 - 1e-12) for rate in rates)
    result: np.ndarray = errors * np.log(worse / healthy) + (requests - errors) * np.log(
        (1 - worse) / (1 - healthy)
    )
    if not np.array_equal(cdfs[0], cdfs[1]):
        counts = np.diff(buckets, axis=1, prepend=0.0)
        probabilities = [
            np.clip(np.diff(cdf, axis=1, prepend=0.0, append=1.0), 1e-300, None) for cdf in cdfs
        ]
        result = result + (counts * np.log(probabilities[0] / probabilities[1])).sum(axis=1)
    return result


def _stretched_tail(bounds: np.ndarray, median: np.ndarray, factor: float) -> np.ndarray:
    """CDF when latencies above the p95 are stretched so that the p99 grows by ``factor``."""
    z95, z99 = special.ndtri(0.95), special.ndtri(0.99)
    q95, q99 = median * math.exp(SIGMA * z95), median * math.exp(SIGMA * z99)
    stretch = (factor * q99 - q95) / (q99 - q95)
    original = np.where(
        bounds[None, :] > q95[:, None],
        q95[:, None] + (bounds[None, :] - q95[:, None]) / stretch[:, None],
        bounds[None, :],
    )
    z = (np.log(original) - np.log(median)[:, None]) / SIGMA
    result: np.ndarray = special.ndtr(z)
    return result


def _harm(
    scenario: Scenario, requests: np.ndarray, p: np.ndarray, cdfs: list[np.ndarray]
) -> np.ndarray:
    """Canary requests harmed per second: excess errors, or excess slow requests."""
    excess_errors = requests[0] * np.clip(p[0] - p[1], 0, None)
    if scenario.median_factor != 1 or scenario.sigma_factor != 1 or scenario.tail_factor != 1:
        # Slower than the baseline's p99, beyond the 1% that the baseline has.
        index = int(np.searchsorted(BOUNDS, MEDIAN * math.exp(SIGMA * 2.326)))
        slow_c = 1 - cdfs[0][:, index]
        slow_b = 1 - cdfs[1][:, index]
        return excess_errors + requests[0] * np.clip(slow_c - slow_b, 0, None)
    return excess_errors


def observations(run: Run) -> Iterator[dict[str, Any]]:
    """The run as the controller would feed rollsafe: per second, canary then baseline."""
    keys = [repr(b) for b in BOUNDS] + ["+Inf"]
    requests = np.cumsum(run.requests, axis=1)
    errors = np.cumsum(run.errors, axis=1)
    buckets = np.cumsum(run.buckets, axis=1)
    if run.resets.size:  # the canary restarted: its counters count again from zero
        for start in run.resets.tolist():
            if start < run.seconds:
                requests[0, start:] -= requests[0, start - 1]
                errors[0, start:] -= errors[0, start - 1]
                buckets[0, start:] -= buckets[0, start - 1]
    req, err, mem = requests.tolist(), errors.tolist(), run.memory.tolist()
    hist = [buckets[0].tolist(), buckets[1].tolist()]
    for second in range(run.seconds):
        t = float(second)
        for arm, name in ((0, "canary"), (1, "baseline")):
            yield {
                "t": t,
                "arm": name,
                "requests": req[arm][second],
                "errors": err[arm][second],
                "latency_seconds_bucket": dict(zip(keys, hist[arm][second], strict=True)),
                "memory_bytes": mem[arm][second],
            }
