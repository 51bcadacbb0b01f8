"""Early pass: anytime-valid under repeated looks, and reachable for a healthy canary.

Seeded simulations of error counts, a look after every batch of requests. The
decision function itself (``rate_comparison``, what the judge asks for every
rate) is looked at after every batch: a canary exactly at or beyond the margin
passes in at most alpha of the runs (plus binomial slack), however often it is
asked. Through the judge, a healthy canary passes early in most runs and never
before the floor. alpha is large here (0.2) so that a broken bound would show
in a few hundred runs.
"""

from __future__ import annotations

import math

import numpy as np

from rollsafe.config.analysis import AnalysisConfig, RatioMetric
from rollsafe.config.early_pass import EarlyPass
from rollsafe.judge import Judge, noninferiority
from rollsafe.judge.noninferiority import rate_comparison

ALPHA = 0.2
BASELINE = 0.05


def slack(runs: int) -> float:
    return 3 * math.sqrt(ALPHA * (1 - ALPHA) / runs)


def passes_under_repeated_looks(
    canary: float,
    baseline: float,
    seed: int,
    relative: float,
    absolute: float,
    looks: int = 150,
    per_look: int = 100,
) -> bool:
    """Whether the comparison ever passes when asked after every batch (from 100 requests)."""
    rng = np.random.default_rng(seed)
    x_c = x_b = n = 0
    for _ in range(looks):
        n += per_look
        x_c += int(rng.binomial(per_look, canary))
        x_b += int(rng.binomial(per_look, baseline))
        found = rate_comparison("e", "d", x_c, n, x_b, n, relative, absolute, ALPHA)
        if found is not None and found.passed:
            return True
    return False


def pass_rate(canary: float, baseline: float, relative: float, absolute: float, runs: int) -> float:
    passed = sum(
        passes_under_repeated_looks(canary, baseline, seed, relative, absolute)
        for seed in range(runs)
    )
    return passed / runs


def test_a_canary_at_the_absolute_margin_passes_in_at_most_alpha_of_runs() -> None:
    assert pass_rate(BASELINE + 0.02, BASELINE, 0.0, 0.02, 300) <= ALPHA + slack(300)


def test_a_canary_beyond_the_margin_passes_less_often_still() -> None:
    assert pass_rate(BASELINE + 0.03, BASELINE, 0.0, 0.02, 150) <= ALPHA + slack(150)


def test_at_a_high_rate_the_relative_margin_holds_too() -> None:
    # 40% "slow" requests (a latency bound near the median): margin 20% x 40% = 8 points.
    assert pass_rate(0.48, 0.4, 0.2, 0.01, 200) <= ALPHA + slack(200)


def test_the_same_comparison_passes_a_healthy_canary_in_most_runs() -> None:
    assert pass_rate(BASELINE, BASELINE, 0.0, 0.02, 25) >= 0.8
    assert pass_rate(0.4, 0.4, 0.2, 0.01, 25) >= 0.8


def test_a_fixed_n_interval_looked_at_repeatedly_would_not_be_valid() -> None:
    """Why the confidence sequence matters: a normal interval at the same level, checked
    at every look, passes the at-margin canary far more often than alpha."""
    rng = np.random.default_rng(7)
    z = 0.8416  # one-sided 80%
    runs, naive = 200, 0
    for _ in range(runs):
        x_c = x_b = n = 0
        for _look in range(150):
            n += 100
            x_c += int(rng.binomial(100, BASELINE + 0.02))
            x_b += int(rng.binomial(100, BASELINE))
            p_c, p_b = x_c / n, x_b / n
            se = math.sqrt((p_c * (1 - p_c) + p_b * (1 - p_b)) / n)
            if n >= 500 and p_c - p_b + z * se <= 0.02:
                naive += 1
                break
    assert naive / runs > ALPHA + slack(runs)


# -- through the judge ---------------------------------------------------------

CONFIG = AnalysisConfig(
    alpha=ALPHA,
    metrics=[RatioMetric()],
    max_error_rate=0.5,
    min_requests=0,
    early_pass=EarlyPass(
        error_margin=0.02, error_relative_margin=0.0, min_requests=100, min_duration=5.0
    ),
)


def judge_run(
    canary_rate: float, seed: int, config: AnalysisConfig = CONFIG, looks: int = 300
) -> tuple[str, float | None, bool]:
    """(verdict, decided_at, passed early) of a judge looking after every 100 requests."""
    rng = np.random.default_rng(seed)
    judge = Judge(config)
    totals = {"canary": [0, 0], "baseline": [0, 0]}
    verdict = judge.verdict
    for t in range(looks):
        for arm, rate in (("canary", canary_rate), ("baseline", BASELINE)):
            counts = totals[arm]
            counts[0] += 100
            counts[1] += int(rng.binomial(100, rate))
            verdict = judge.update(
                {"t": float(t), "arm": arm, "requests": counts[0], "errors": counts[1]}
            )
        if verdict.decided_at is not None:
            break
    return verdict.verdict, verdict.decided_at, verdict.early_pass is not None


def test_through_the_judge_a_healthy_canary_passes_early_but_not_before_the_floor() -> None:
    runs = [judge_run(BASELINE, 20_000 + seed) for seed in range(25)]
    early = [t for verdict, t, was_early in runs if verdict == "pass" and was_early]
    assert len(early) >= 0.8 * len(runs)
    # min_duration 5 s after the first look at t=0, and 100 requests per arm.
    assert min(t for t in early if t is not None) >= 5.0


def test_through_the_judge_a_canary_at_the_margin_rarely_passes() -> None:
    runs = 100
    passed = sum(judge_run(BASELINE + 0.02, seed)[0] == "pass" for seed in range(runs))
    assert passed / runs <= ALPHA + slack(runs)


def test_the_comparison_reports_its_bound_and_margin() -> None:
    comparison = rate_comparison("error_rate", "diff", 10, 10_000, 12, 10_000, 0.2, 0.005, 0.01)
    assert comparison is not None
    assert comparison.passed
    assert 0 < comparison.upper <= comparison.margin == 0.005
    # Far worse: the screen rules it out before any exact bound is computed.
    assert rate_comparison("error_rate", "diff", 900, 10_000, 10, 10_000, 0.2, 0.005, 0.01) is None


def test_early_pass_can_be_turned_off() -> None:
    config = CONFIG.model_copy(update={"early_pass": EarlyPass(enabled=False)})
    seed = next(seed for seed in range(20_000, 20_040) if judge_run(BASELINE, seed)[2])
    _verdict, early_at, _early = judge_run(BASELINE, seed)
    _verdict, decided_at, early = judge_run(BASELINE, seed, config)
    assert not early
    assert early_at is not None
    assert decided_at is None or decided_at > early_at  # only the strict pass, later


def test_with_latency_the_evidence_names_every_bound_and_is_json() -> None:
    import json

    from tests.judge.streams import BOUNDS, Arm, stream

    fields = ("requests", "errors", "latency_seconds_bucket")
    config = AnalysisConfig(warmup=0.0)  # default metrics and margins, alpha 0.01
    judge = Judge(config)
    rng = np.random.default_rng(5)
    canary, baseline = Arm(rate=500.0, fields=fields), Arm(rate=500.0, fields=fields)
    verdict = judge.verdict
    for observation in stream(rng, canary, baseline, 600):
        verdict = judge.update(observation)
        if verdict.decided_at is not None:
            break
    assert verdict.verdict == "pass"
    assert verdict.early_pass is not None
    assert verdict.decided_at is not None
    assert verdict.decided_at >= 30.0
    encoded = json.loads(json.dumps(verdict.to_dict()))
    comparisons = encoded["early_pass"]["comparisons"]
    latency = [c for c in comparisons if c["metric"] == "latency"]
    assert len(latency) == len(BOUNDS)
    assert all(c["passed"] and c["upper"] <= c["margin"] for c in comparisons)
    assert {c["metric"] for c in comparisons} == {"error_rate", "error_rate_ceiling", "latency"}


def test_the_plan_fields_parse_and_bad_values_are_refused_by_name() -> None:
    import pytest
    from pydantic import ValidationError

    config = AnalysisConfig.model_validate(
        {"early_pass": {"min_duration": "45s", "error_margin": 0.01, "enabled": False}}
    )
    assert config.early_pass.min_duration == 45.0
    assert config.early_pass.error_margin == 0.01
    assert not config.early_pass.enabled
    with pytest.raises(ValidationError, match=r"early_pass\.error_margin"):
        AnalysisConfig.model_validate({"early_pass": {"error_margin": 2}})
    with pytest.raises(ValidationError, match=r"early_pass\.min_sample"):
        AnalysisConfig.model_validate({"early_pass": {"min_sample": 10}})


def test_the_bisections_shortcut_answers_as_the_full_mixture() -> None:
    """_mix_reaches stops summing once the running sum settles the comparison: on random
    counts, rates and shifts (both bisections' theta forms, levels near the mixture's
    value included) it answers exactly ``_log_mix(...) >= level``."""
    rng = np.random.default_rng(71)
    clear = 0
    for _ in range(20_000):
        n = float(rng.integers(1, 100_000))
        x = float(rng.integers(0, int(n) + 1))
        q = float(rng.random() ** rng.choice([1, 3, 6]))
        shift = float(rng.random() * rng.choice([0.001, 0.01, 0.1]))
        if rng.random() < 0.5:
            thetas = [max(q - f * shift, 0.0) for f in noninferiority.SHIFTS]
        else:
            thetas = [min(q + f * shift, 1.0) for f in noninferiority.SHIFTS]
        try:
            value = noninferiority._log_mix(x, n, q, thetas)
        except ValueError:
            continue
        for level in (math.log(200.0), value, math.nextafter(value, math.inf), value - 1e-12):
            if not math.isfinite(level):
                continue
            bar = noninferiority._bar(level, len(thetas))
            answer = noninferiority._mix_reaches(x, n, q, thetas, level, bar)
            assert answer == (value >= level)
            clear += answer and value > level + 1e-6
    assert clear > 1000  # many levels well below the sum: where the shortcut can stop


def test_a_bound_whose_mixture_underflows_to_a_subnormal_mean_is_still_found() -> None:
    """The bisection raised (math domain error) where the mixture's mean underflowed to 0
    but its sum did not: such a rate is simply not rejected."""
    for x, n, shift, alpha in ((16135.0, 851774.0, 0.05, 0.05), (13442.0, 484755.0, 0.05, 0.0005)):
        noninferiority.upper_bound.cache_clear()
        upper = noninferiority.upper_bound(x, n, shift, alpha)
        assert x / n < upper < 1.0
        assert noninferiority.rejects_at_least(x, n, upper, shift, alpha)
