"""The judge under continuous looks: few false failures, quick failures on clear regressions."""

from __future__ import annotations

import math

import numpy as np

from rollsafe.config import AnalysisConfig
from rollsafe.judge import Judge, replay
from tests.judge.streams import Arm, look

ALL_FIELDS = ("requests", "errors", "latency_seconds_bucket", "memory_bytes")


def _run(
    rng: np.random.Generator,
    canary: Arm,
    baseline: Arm,
    looks: int,
    config: AnalysisConfig | None = None,
    shares: tuple[float, ...] = (),
) -> tuple[str, float | None, list[str]]:
    """Feed one look per second; ``shares`` changes the canary's share of 100 req/look."""
    judge = Judge(config)
    verdict = judge.verdict
    for i in range(looks):
        if shares:
            share = shares[i * len(shares) // looks]
            canary.rate, baseline.rate = 100 * share, 100 * (1 - share)
        judge.update(look(rng, canary, "canary", float(i)))
        verdict = judge.update(look(rng, baseline, "baseline", float(i)))
        if verdict.decided_at is not None:
            break
    failed = [m.name for m in verdict.metrics if m.verdict == "fail"]
    return verdict.verdict, verdict.decided_at, failed


def test_healthy_canary_rarely_fails_with_every_metric_and_changing_shares() -> None:
    rng = np.random.default_rng(31)
    config, runs = AnalysisConfig(alpha=0.05), 120
    failures = 0
    for _ in range(runs):
        arms = Arm(fields=ALL_FIELDS), Arm(fields=ALL_FIELDS)
        verdict, _, _ = _run(rng, *arms, looks=300, config=config, shares=(0.1, 0.5))
        failures += verdict == "fail"
    assert failures / runs <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / runs)


def test_fivefold_error_rate_fails_within_seconds() -> None:
    rng = np.random.default_rng(32)
    delays = []
    for _ in range(40):
        verdict, decided_at, failed = _run(rng, Arm(error_rate=0.05), Arm(), looks=120)
        assert verdict == "fail"
        assert failed == ["error_rate"]
        assert decided_at is not None
        delays.append(decided_at)
    assert np.median(delays) <= 15


def test_slower_canary_fails_on_latency() -> None:
    rng = np.random.default_rng(33)
    fields = ("requests", "errors", "latency_seconds_bucket")
    for _ in range(10):
        canary, baseline = Arm(median=0.075, fields=fields), Arm(fields=fields)
        verdict, decided_at, failed = _run(rng, canary, baseline, looks=120)
        assert verdict == "fail"
        assert failed == ["latency"]
        assert decided_at is not None
        assert decided_at < 60


def test_wider_latency_spread_fails_on_latency() -> None:
    rng = np.random.default_rng(34)
    fields = ("requests", "errors", "latency_seconds_bucket")
    canary, baseline = Arm(sigma=0.9, fields=fields), Arm(fields=fields)
    verdict, _, failed = _run(rng, canary, baseline, looks=300)
    assert verdict == "fail"
    assert failed == ["latency"]


def test_memory_leak_fails_on_growth() -> None:
    rng = np.random.default_rng(35)
    fields = ("requests", "errors", "memory_bytes")
    canary, baseline = Arm(leak=1e9 / 3600, fields=fields), Arm(fields=fields)
    verdict, decided_at, failed = _run(rng, canary, baseline, looks=900)
    assert verdict == "fail"
    assert failed == ["memory_growth"]
    assert decided_at is not None
    assert decided_at < 600


def test_better_canary_never_fails() -> None:
    rng = np.random.default_rng(36)
    for _ in range(20):
        verdict, _, _ = _run(rng, Arm(error_rate=0.001), Arm(error_rate=0.02), looks=200)
        assert verdict != "fail"


def test_error_ceiling_fails_a_canary_above_it_and_above_the_baseline() -> None:
    """30% against 26%: inside the 20% relative margin, but over the 5% ceiling."""
    rng = np.random.default_rng(37)
    verdict, _, failed = _run(rng, Arm(error_rate=0.3), Arm(error_rate=0.26), looks=300)
    assert verdict == "fail"
    assert failed == ["error_rate_ceiling"]


def test_error_ceiling_ignores_a_fault_both_arms_share() -> None:
    rng = np.random.default_rng(40)
    for _ in range(5):
        verdict, _, _ = _run(rng, Arm(error_rate=0.3), Arm(error_rate=0.3), looks=120)
        assert verdict != "fail"


def test_zero_error_baseline() -> None:
    rng = np.random.default_rng(38)
    verdict, _, failed = _run(rng, Arm(error_rate=0.05), Arm(error_rate=0.0), looks=60)
    assert (verdict, failed) == ("fail", ["error_rate"])
    arms = {"canary": Arm(error_rate=0.0), "baseline": Arm(error_rate=0.0)}
    observations = (look(rng, arms[a], a, float(t)) for t in range(60) for a in arms)
    quiet = replay(observations, conclude=True)
    assert quiet.verdict == "pass"


def test_tiny_absolute_difference_does_not_fail() -> None:
    """0.01% against 0.05%: five times worse, but within the 0.1 pp absolute margin."""
    rng = np.random.default_rng(39)
    verdict, _, _ = _run(
        rng, Arm(rate=500, error_rate=0.0005), Arm(rate=500, error_rate=0.0001), 600
    )
    assert verdict != "fail"
