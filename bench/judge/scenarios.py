"""The scenarios of the benchmark: healthy A/A variants and regressions."""

from __future__ import annotations

from bench.judge.simulator import Scenario

HEALTHY = (
    Scenario("A/A, diurnal traffic", True, diurnal=True),
    Scenario("A/A, autocorrelated noise", True, noise=True),
    Scenario("A/A, incident spikes in both arms", True, incidents=True),
    Scenario("A/A, instance heterogeneity", True, heterogeneity=True),
    Scenario("A/A, shares 10% → 25% → 50%", True, shares=True),
    Scenario("A/A, low traffic (2 req/s per arm)", True, rps=2.0),
    Scenario("A/A, zero-error baseline, rare bursts", True, error_rate=0.0, bursts=True),
    Scenario(
        "A/A, cold start (canary 3x slower at first, warm after ~10 s)", True, cold_start=True
    ),
)

REGRESSIONS = (
    Scenario("errors 1% → 2%", False, canary_error_rate=0.02),
    Scenario("errors 1% → 5%", False, canary_error_rate=0.05),
    Scenario("latency median x1.2", False, median_factor=1.2),
    Scenario("latency tail only (p99 +30%)", False, tail_factor=1.3),
    Scenario("latency variance only (sigma x1.4)", False, sigma_factor=1.4),
    Scenario("memory leak 200 MB/h", False, leak_bytes_per_hour=200e6),
    Scenario("memory leak 1 GB/h", False, leak_bytes_per_hour=1e9),
    Scenario("low traffic 2 req/s: errors 1% → 5%", False, rps=2.0, canary_error_rate=0.05),
    Scenario(
        "zero-error baseline: canary 0.5% errors",
        False,
        error_rate=0.0,
        canary_error_rate=0.005,
        bursts=True,
    ),
    Scenario("intermittent crash bursts (canary)", False, crashes=True),
    # The issue 16 grid: error regressions x2 and x5 at canary shares of 10% and 50%,
    # 10 to 100 requests/s per arm, to be judged against the oracle.
    *(
        Scenario(
            f"errors x{factor}, {label}",
            False,
            rps=rps,
            share=share,
            canary_error_rate=0.01 * factor,
        )
        for factor in (2, 5)
        for label, rps, share in (
            ("canary 10% of 100 req/s", 50.0, 0.1),
            ("50%, 10 req/s per arm", 10.0, 0.5),
            ("50%, 100 req/s per arm", 100.0, 0.5),
        )
    ),
)

ORACLE_GOAL = (
    "errors x2, canary 10% of 100 req/s",
    "errors x2, 50%, 10 req/s per arm",
    "errors x2, 50%, 100 req/s per arm",
    "errors x5, canary 10% of 100 req/s",
    "errors x5, 50%, 10 req/s per arm",
    "errors x5, 50%, 100 req/s per arm",
)
"""Scenarios whose rollsafe median delay should be at most twice the oracle's (issue 16)."""


def flagger_thresholds(scenario: Scenario) -> tuple[float, float]:
    """(error rate, p99 seconds) an operator would set from the service's normal values."""
    from bench.judge.baselines import nominal_p99

    error = max(1.5 * scenario.error_rate, scenario.error_rate + 0.005)
    return error, 1.25 * nominal_p99()
