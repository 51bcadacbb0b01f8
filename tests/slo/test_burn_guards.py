"""Burn-rate guards on synthetic traffic, process-free: windows compressed by ``compress``.

With ``compress: 60`` the Sloth tiers' 1h/5m become 60s/5s and the 28-day period
40,320 s, so each test replays hours of budget maths in a fraction of a second.
"""

from __future__ import annotations

import pytest

from rollsafe.config.slo import Objective, SloSettings
from rollsafe.guards import GuardEvent
from rollsafe.slo import BurnRateEvaluator, slo_evaluators
from tests.slo.traffic import looks

COMPRESS = 60.0


def objective(**fields: object) -> Objective:
    return Objective.model_validate({"name": "checkout", "target": 0.999, **fields})


def run(
    evaluator: BurnRateEvaluator,
    seconds: float,
    rate: float,
    *,
    per_second: int = 100,
    step: float = 1.0,
) -> list[GuardEvent]:
    events = []
    for t, observations in looks(seconds, lambda _t: rate, per_second=per_second, step=step):
        events.extend(evaluator.update(t, observations))
    return events


def test_a_fast_burn_trips_the_page_tier_when_the_maths_says() -> None:
    # 5% errors against a 0.1% budget: a 50x burn. With a clean history the 60 s window's
    # ratio grows as 5% * t/60 and passes 14.4 * 0.1% at t = 17.3 s; the confidence bound
    # needs a little more.
    evaluator = BurnRateEvaluator(objective(), COMPRESS)
    events = run(evaluator, 60, 0.05)
    tripped = [e for e in events if e.kind == "tripped"]
    assert [e.guard for e in tripped][:1] == ["slo-checkout-page-1m-5s"]
    first = tripped[0]
    assert 17.3 <= first.t <= 26, first.t
    assert first.severity == "critical"
    evidence = first.evidence
    assert evidence["threshold"] == 14.4
    assert evidence["window"] == 60
    assert evidence["lower_bound"] > 14.4  # the evidence, not only the observed ratio
    assert evidence["value"] > 14.4
    assert evidence["budget_burned"] == pytest.approx(evidence["value"] * 60 / 40_320)
    assert "burns its error budget" in first.summary
    assert "over 1m" in first.summary


def test_a_slow_burn_within_budget_trips_nothing_over_the_longest_window() -> None:
    # 0.08% errors: 0.8x, so the period's budget would never run out. Two of the longest
    # (3-day, compressed 72-minute) windows of it trip no tier, not even the 1x ticket.
    evaluator = BurnRateEvaluator(objective(), COMPRESS)
    events = run(evaluator, 2 * 3 * 86_400 / COMPRESS, 0.0008, per_second=50, step=2.0)
    assert [e for e in events if e.kind in ("firing", "tripped")] == []
    rates = evaluator.burn_rates()
    assert rates["slo-checkout-ticket-1h12m-6m"] == pytest.approx(0.8, abs=0.25)


def test_a_steady_burn_above_budget_trips_only_the_ticket_tier() -> None:
    # 2x: the budget would be gone in 14 days. No page (it needs 6x), but the 1x ticket
    # tier over 3d/6h (72 min / 6 min compressed) fires once 10.7% of the budget is gone,
    # after half of its long window: t = 4320 s / 2.
    evaluator = BurnRateEvaluator(objective(), COMPRESS)
    events = run(evaluator, 3000, 0.002, per_second=50, step=2.0)
    fired = [e for e in events if e.kind == "tripped"]
    assert {e.guard for e in fired} == {"slo-checkout-ticket-1h12m-6m"}
    assert fired[0].severity == "major"
    assert 2160 <= fired[0].t <= 2900, fired[0].t


def test_the_short_window_resets_a_tier_once_the_burn_stops() -> None:
    # A burst of 40 s at 50x, then clean: the long window still holds the burst, but the
    # short window (5 s) no longer burns, so the firing minor tier clears.
    evaluator = BurnRateEvaluator(
        objective(windows=[{"burn": 14.4, "long": "1h", "short": "5m", "severity": "page",
                            "action": "minor"}]),
        COMPRESS,
    )  # fmt: skip
    events = []
    for t, observations in looks(80, lambda t: 0.05 if t <= 40 else 0.0):
        events.extend(evaluator.update(t, observations))
    kinds = [(e.kind, round(e.t)) for e in events]
    assert kinds[0][0] == "firing"
    assert kinds[-1][0] == "cleared"
    assert 40 < kinds[-1][1] <= 47
    assert evaluator.tripped == []


def test_for_delays_a_trip_by_its_compressed_duration() -> None:
    tiers = [{"burn": 14.4, "long": "1h", "short": "5m", "severity": "page", "for": "10m"}]
    plain = BurnRateEvaluator(objective(windows=[{**tiers[0], "for": "0s"}]), COMPRESS)
    held = BurnRateEvaluator(objective(windows=tiers), COMPRESS)
    first = next(e.t for e in run(plain, 60, 0.05) if e.kind == "tripped")
    later = next(e.t for e in run(held, 60, 0.05) if e.kind == "tripped")
    assert later - first == pytest.approx(10.0)  # 10m / 60


def test_a_handful_of_errors_is_not_evidence() -> None:
    # 3 errors in the first seconds of a quiet service are a huge ratio, but fewer than
    # min_events (5): nothing fires.
    evaluator = BurnRateEvaluator(objective(), COMPRESS)
    events = []
    for t, observations in looks(30, lambda t: 1.0 if t <= 0.03 else 0.0, per_second=100,
                                 step=0.01):  # fmt: skip
        events.extend(evaluator.update(t, observations))
    assert events == []


def test_latency_slo_counts_requests_slower_than_the_threshold_as_bad() -> None:
    evaluator = BurnRateEvaluator(
        objective(sli="latency", threshold="250ms", target=0.99), COMPRESS
    )
    events = []
    for second in range(61):
        total = 100.0 * second
        slow = 30.0 * second  # 30% slower than 250 ms: 30x a 1% budget
        buckets = {"0.1": total - slow - 10 * second, "0.25": total - slow, "+Inf": total}
        look = [{"t": float(second), "arm": "all", "latency_seconds_bucket": buckets}]
        events.extend(evaluator.update(float(second), look))
    tripped = [e for e in events if e.kind == "tripped"]
    assert tripped
    assert tripped[0].guard.startswith("slo-checkout-page-1m")
    assert tripped[0].evidence["sli"] == "latency"


def test_windows_stay_bounded_over_a_long_run() -> None:
    evaluator = BurnRateEvaluator(objective(), 1.0)  # uncompressed: a 3-day window
    for t, observations in looks(20_000, lambda _t: 0.0, per_second=1, step=1.0):
        evaluator.update(t, observations)
    sizes = [len(state.long.anchors) for state in evaluator._tiers]
    assert max(sizes) <= 258


def test_a_plan_section_gives_one_evaluator_per_objective() -> None:
    settings = SloSettings.model_validate(
        {"compress": 60, "objectives": [{"name": "a", "target": 0.99},
                                         {"name": "b", "target": 0.9, "windows": "pyrra"}]}
    )  # fmt: skip
    evaluators = slo_evaluators(settings)
    assert [e.objective.name for e in evaluators] == ["a", "b"]
    assert evaluators[1].period == 28 * 86_400 / 60
    assert slo_evaluators(None) == []
