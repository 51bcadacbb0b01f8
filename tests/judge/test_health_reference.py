"""A health step's reference (rollsafe.judge.reference): the baseline's error rate from the
rollout's compare steps lowers the health ceiling, without false failures beyond alpha.

The case that motivated it: under load the demo's faulty release (5% of checkouts
answer 500, the old path 0%) reached the 100% health step with 21 errors in 296
requests; against the 5% ceiling that was e=0.45 and the release was promoted,
though the old path had shown 0 errors in 599 requests minutes earlier.
"""

from __future__ import annotations

import numpy as np
import pytest

from rollsafe.config.analysis import AnalysisConfig, RatioMetric
from rollsafe.judge import Judge, Verdict
from rollsafe.judge.reference import REFERENCE_SHARE, RateReference, error_metric

CONFIG = AnalysisConfig(min_requests=30)


def health_stream(rate: float, looks: int = 15, per_look: float = 20.0) -> list[dict[str, float]]:
    """Cumulative counters of one pooled arm, errors at exactly ``rate`` (rounded down)."""
    return [
        {"requests": per_look * k, "errors": float(int(per_look * k * rate + 1e-9))}
        for k in range(looks + 1)
    ]


def judged(
    counts: list[dict[str, float]], reference: RateReference | None, config: AnalysisConfig = CONFIG
) -> tuple[Judge, Verdict, int]:
    """The judge after ``counts`` (stopping at a final verdict) and the requests it took."""
    judge = Judge(config, mode="health", reference=reference)
    verdict = judge.verdict
    requests = 0.0
    for t, look in enumerate(counts):
        verdict = judge.update({"t": float(t), "arm": "all", **look})
        requests = look["requests"]
        if verdict.decided_at is not None:
            break
    return judge, verdict, int(requests)


def test_the_reference_ceiling_is_the_baseline_bound_with_the_margins() -> None:
    reference = RateReference.of(CONFIG, 0, 599, 2)
    assert reference.alpha == pytest.approx(CONFIG.alpha * REFERENCE_SHARE)
    assert 0.01 < reference.bound < 0.02  # 0 in 599: the rate is below about 1.5%
    assert reference.derived_ceiling == pytest.approx(reference.bound * 1.2 + 0.001)
    assert reference.applied
    assert reference.ceiling == reference.derived_ceiling < CONFIG.max_error_rate
    record = reference.to_dict()
    assert (record["events"], record["trials"], record["steps"]) == (0, 599, 2)
    assert record["ceiling"] == reference.ceiling


def test_the_margins_are_the_error_metrics() -> None:
    metric = RatioMetric(relative_margin=0.5, absolute_margin=0.01)
    config = AnalysisConfig(metrics=[metric])
    assert error_metric(config) is metric
    reference = RateReference.of(config, 0, 2000, 1)
    assert reference.derived_ceiling == pytest.approx(reference.bound * 1.5 + 0.01)


def test_seven_percent_fails_quickly_against_a_clean_baseline() -> None:
    reference = RateReference.of(CONFIG, 0, 600, 2)
    _, verdict, requests = judged(health_stream(0.07), reference)
    assert verdict.verdict == "fail"
    assert verdict.basis == "sequential"
    assert requests <= 200  # the demo's 100% step saw 296
    (ceiling,) = verdict.metrics
    assert "above the ceiling 1.9%" in ceiling.reason
    assert "baseline's 0/600 in 2 compare steps" in ceiling.reason


def test_seven_percent_without_a_reference_stays_undecided() -> None:
    judge, verdict, _ = judged(health_stream(0.07), None)
    assert verdict.verdict == "inconclusive"  # the bug: 7% is not shown above 5%
    assert judge.error_ceiling == CONFIG.max_error_rate


@pytest.mark.parametrize("rate", [0.0, 0.0025, 0.005])
def test_a_healthy_release_passes_against_a_clean_baseline(rate: float) -> None:
    reference = RateReference.of(CONFIG, 0, 600, 2)
    judge, verdict, _ = judged(health_stream(rate), reference)
    assert verdict.verdict != "fail"
    assert judge.conclude().verdict == "pass"


def test_a_reference_that_does_not_lower_the_ceiling_changes_nothing() -> None:
    for reference in (RateReference.of(CONFIG, 0, 80, 1), RateReference.of(CONFIG, 40, 900, 2)):
        assert not reference.applied  # too little traffic; a baseline at 4.4%
        assert reference.ceiling == CONFIG.max_error_rate
        for rate in (0.0, 0.07, 0.2):
            counts = health_stream(rate, looks=40)
            with_reference, plain = judged(counts, reference)[0], judged(counts, None)[0]
            assert with_reference.verdict.to_dict() == plain.verdict.to_dict()
            assert with_reference.conclude().to_dict() == plain.conclude().to_dict()


def test_compare_mode_takes_no_reference() -> None:
    with pytest.raises(ValueError, match="health mode"):
        Judge(CONFIG, reference=RateReference.of(CONFIG, 0, 600, 1))


@pytest.mark.parametrize("alpha", [0.01, 0.1])
def test_false_failures_stay_below_alpha_with_the_release_at_the_margin(alpha: float) -> None:
    """Seeded simulation: the baseline's reference drawn at a healthy rate, the release's
    stream at the largest rate the null allows (the baseline's x 1.2 + 0.1 pp), looked at
    after every 25 requests for 1,000; a failure is false. Bounded by alpha, the sum of the
    reference bound's and the test's."""
    config = AnalysisConfig(alpha=alpha, min_requests=30)
    rng = np.random.default_rng(20261206)
    runs = failures = applied = 0
    for baseline_rate in (0.0, 0.002, 0.01):
        release_rate = baseline_rate * 1.2 + 0.001
        for _ in range(200):
            trials = int(rng.integers(300, 1500))
            reference = RateReference.of(config, rng.binomial(trials, baseline_rate), trials, 2)
            applied += reference.applied
            errors = np.cumsum(rng.binomial(25, release_rate, size=40))
            counts = [{"requests": 0.0, "errors": 0.0}] + [
                {"requests": 25.0 * (k + 1), "errors": float(e)} for k, e in enumerate(errors)
            ]
            runs += 1
            failures += judged(counts, reference, config)[1].verdict == "fail"
    assert applied > runs / 2  # the references mostly lowered the ceiling: a real test
    assert failures <= alpha * runs, (failures, runs)
