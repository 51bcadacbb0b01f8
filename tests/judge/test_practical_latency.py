"""Practical significance for latency: sub-millisecond differences never count (issue 16)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from rollsafe.config import AnalysisConfig
from rollsafe.config.analysis import HistogramMetric
from rollsafe.judge import Judge

# The demo shop's buckets (rollsafe.demo.shop.telemetry), fine below 10 ms.
BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5)


class Arm:
    def __init__(self, name: str, median: float, rate: float) -> None:
        self.name, self.median, self.rate = name, median, rate
        self.buckets = np.zeros(len(BOUNDS) + 1)

    def look(self, rng: np.random.Generator, t: float) -> dict[str, Any]:
        z = (np.log(BOUNDS) - math.log(self.median)) / (0.3 * math.sqrt(2))
        cdf = 0.5 * (1 + np.array([math.erf(v) for v in z]))
        n = int(rng.poisson(self.rate))
        self.buckets += np.cumsum(rng.multinomial(n, np.diff(np.concatenate([[0], cdf, [1]]))))
        return {
            "t": t,
            "arm": self.name,
            "requests": float(self.buckets[-1]),
            "errors": 0.0,
            "latency_seconds_bucket": {
                **{str(b): float(c) for b, c in zip(BOUNDS, self.buckets[:-1], strict=True)},
                "+Inf": float(self.buckets[-1]),
            },
        }


def judge_step(
    seed: int, canary_median: float, baseline_median: float, looks: int, share: float = 0.5
) -> Judge:
    rng = np.random.default_rng(seed)
    canary = Arm("canary", canary_median, 80 * share)
    baseline = Arm("baseline", baseline_median, 80 * (1 - share))
    judge = Judge(AnalysisConfig(min_requests=30, warmup=2))  # as the demo plan
    for i in range(looks):
        judge.update(canary.look(rng, float(i)))
        if judge.update(baseline.look(rng, float(i))).decided_at is not None:
            break
    return judge


@pytest.mark.parametrize("share", [0.1, 0.5])
def test_a_canary_0_6_ms_slower_at_the_median_neither_fails_nor_leans_to_rollback(
    share: float,
) -> None:
    # The false rollback of issue 16: a fresh 1.1.0 at p50 1.31 ms against 0.68 ms.
    for seed in range(5):
        judge = judge_step(seed, 0.0013, 0.0007, looks=10, share=share)
        verdict = judge.conclude()
        latency = next(m for m in verdict.metrics if m.name == "latency")
        assert latency.verdict != "fail"
        assert "leans towards a regression" not in verdict.reason
        assert verdict.verdict == "pass", verdict.reason
        assert latency.e_value is not None
        assert latency.e_value < 1
        assert "within the practical margins" in latency.reason


def test_a_sub_millisecond_slowdown_never_fails_however_long_it_is_watched() -> None:
    judge = judge_step(7, 0.0013, 0.0007, looks=600)
    assert judge.verdict.verdict != "fail"


def test_a_slowdown_beyond_both_margins_still_fails_quickly() -> None:
    # 20 ms at the median over 40 ms: beyond 5 ms and beyond 10%.
    judge = judge_step(8, 0.06, 0.04, looks=60)
    assert judge.verdict.verdict == "fail"
    assert judge.verdict.decided_at is not None
    assert judge.verdict.decided_at <= 15


def test_the_margins_are_configurable() -> None:
    # With no practical margins, the same 0.6 ms is (statistically) a regression.
    rng = np.random.default_rng(9)
    canary, baseline = Arm("canary", 0.0013, 40), Arm("baseline", 0.0007, 40)
    metric = HistogramMetric(slowdown_margin=0.0, slowdown_relative_margin=0.0)
    judge = Judge(AnalysisConfig(metrics=[metric]))
    for i in range(30):
        judge.update(canary.look(rng, float(i)))
        judge.update(baseline.look(rng, float(i)))
    assert judge.verdict.verdict == "fail"


def _tail_look(arm: str, t: float, total: float, slow: float) -> dict[str, Any]:
    """``total`` requests so far, ``slow`` of them between 0.3 s and 0.5 s, the rest fast."""
    fast = total - slow
    counts = [fast] * 11 + [total, total]  # at or below each bound of BOUNDS
    return {
        "t": t,
        "arm": arm,
        "requests": total,
        "errors": 0.0,
        "latency_seconds_bucket": {
            **{str(b): c for b, c in zip(BOUNDS, counts, strict=True)},
            "+Inf": total,
        },
    }


def test_ratio_evidence_short_of_the_absolute_margin_says_so() -> None:
    # 5% of the canary's requests slower than 300 ms, none of the baseline's: the ratio
    # test is decisive at once, but a difference of exactly the 5 pp absolute margin can
    # be shown neither above nor below it, so the check stays inconclusive, and its reason
    # must say why rather than print an e-value above the threshold beside "not enough
    # evidence".
    metric = HistogramMetric(name="latency", absolute_margin=0.05)
    judge = Judge(AnalysisConfig(metrics=[metric], min_requests=30))
    for i in range(1, 121):
        judge.update(_tail_look("canary", float(i), 100.0 * i, 5.0 * i))
        verdict = judge.update(_tail_look("baseline", float(i), 100.0 * i, 0.0))
    latency = next(m for m in verdict.metrics if m.name == "latency")
    assert verdict.verdict != "fail"
    assert latency.verdict == "inconclusive"
    assert latency.e_value is not None
    assert latency.threshold is not None
    assert latency.e_value >= latency.threshold
    assert "not yet shown to exceed the baseline's by the absolute margin (5 pp)" in (
        latency.reason
    )
    assert "not enough evidence either way" not in latency.reason
