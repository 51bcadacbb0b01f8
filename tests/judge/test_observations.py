"""Observation fields as the judge reads them: histogram layouts, odd values, gauges."""

from __future__ import annotations

import math

import numpy as np

from rollsafe.judge import Judge
from rollsafe.judge.arms import ArmCounters, parse_histogram


def test_histogram_keys_in_any_order_and_without_inf() -> None:
    assert parse_histogram({"+Inf": 10, "0.1": 7, "0.05": 3}) == ((0.05, 0.1), [3.0, 7.0, 10.0])
    assert parse_histogram({"0.05": 3, "0.1": 7}) == ((0.05, 0.1), [3.0, 7.0, 7.0])
    assert parse_histogram({"0.05": 3, "0.1": 7, "+Inf": 9}) == ((0.05, 0.1), [3.0, 7.0, 9.0])


def test_malformed_histograms_are_ignored() -> None:
    assert parse_histogram({"fast": 3, "+Inf": 4}) is None
    assert parse_histogram({"0.1": "many", "+Inf": 4}) is None
    assert parse_histogram({"+Inf": 4, "inf": 5}) is None
    assert parse_histogram([1, 2]) is None
    assert parse_histogram({}) is None


def test_odd_counter_values_are_skipped_not_fatal() -> None:
    arm = ArmCounters()
    fields = ("requests", "errors")
    arm.observe({"requests": 10, "errors": 1}, 0.0, fields, (), ())
    arm.observe({"requests": "x", "errors": math.nan}, 1.0, fields, (), ())
    arm.observe({"requests": 30.0, "errors": True}, 2.0, fields, (), ())
    counts, _, _ = arm.take()
    assert counts == {"requests": 20.0, "errors": 0.0}


def test_several_observations_of_one_arm_per_look_add_up() -> None:
    judge = Judge()
    judge.update({"t": 0, "arm": "canary", "requests": 0, "errors": 0})
    judge.update({"t": 0, "arm": "baseline", "requests": 0, "errors": 0})
    judge.update({"t": 1, "arm": "canary", "requests": 40, "errors": 0})
    judge.update({"t": 2, "arm": "canary", "requests": 100, "errors": 1})
    verdict = judge.update({"t": 2, "arm": "baseline", "requests": 100, "errors": 1})
    ratio = next(m for m in verdict.metrics if m.name == "error_rate")
    assert ratio.arms["canary"] == {"events": 1.0, "trials": 100.0, "rate": 0.01}


def test_a_changed_bucket_layout_is_not_compared() -> None:
    arm = ArmCounters()
    arm.observe({"h": {"0.1": 1, "+Inf": 2}}, 0.0, (), ("h",), ())
    arm.observe({"h": {"0.2": 5, "+Inf": 9}}, 1.0, (), ("h",), ())
    arm.observe({"h": {"0.1": 3, "+Inf": 5}}, 2.0, (), ("h",), ())
    _, histograms, _ = arm.take()
    assert histograms == {"h": [2.0, 3.0]}


def test_other_arms_are_ignored_in_compare_mode() -> None:
    judge = Judge()
    for t in range(30):
        judge.update({"t": float(t), "arm": "shadow", "requests": 100.0 * t, "errors": 50.0 * t})
    verdict = judge.conclude()
    assert verdict.verdict == "inconclusive"
    assert "ignored arms: shadow" in verdict.reason


def test_histogram_increments_with_one_or_two_observations_per_take() -> None:
    arm = ArmCounters()
    arm.observe({"h": {"0.1": 1, "+Inf": 2}}, 0.0, (), ("h",), ())
    arm.take()
    arm.observe({"h": {"0.1": 4, "+Inf": 6}}, 1.0, (), ("h",), ())
    assert arm.take()[1] == {"h": [3.0, 4.0]}
    arm.observe({"h": {"0.1": 5, "+Inf": 8}}, 2.0, (), ("h",), ())
    arm.observe({"h": {"0.1": 7, "+Inf": 11}}, 3.0, (), ("h",), ())
    assert arm.take()[1] == {"h": [3.0, 5.0]}
    assert arm.resets == 0
    # One bucket going down is a reset even when the total grows: that look's
    # increments are dropped and counting starts again from the new values.
    arm.observe({"h": {"0.1": 6, "+Inf": 20}}, 4.0, (), ("h",), ())
    assert arm.resets == 1
    arm.observe({"h": {"0.1": 8, "+Inf": 21}}, 5.0, (), ("h",), ())
    assert arm.take()[1] == {"h": [2.0, 1.0]}


def test_the_common_case_shortcut_gives_the_general_code_s_increments() -> None:
    """Random streams with resets, gaps, odd values, new fields, a changed layout and
    several observations per take: the same increments, bit for bit, either way."""
    rng = np.random.default_rng(61)
    counters, histograms, gauges = ("requests", "errors"), ("h",), ("memory",)
    layouts = [("0.1", "0.5", "+Inf"), ("0.1", "0.5", "+Inf"), ("0.5", "0.1", "+Inf"), ("0.2",)]
    for _ in range(40):
        fast, slow = ArmCounters(), ArmCounters()
        totals = [0.0, 0.0, 0.0, 0.0]
        for t in range(60):
            if rng.random() < 0.05:
                totals = [0.0, 0.0, 0.0, 0.0]  # a restart
            totals = [v + float(rng.integers(0, 20)) for v in totals]
            buckets = sorted(totals[:3])
            keys = layouts[int(rng.integers(0, len(layouts)))] if rng.random() < 0.1 else layouts[0]
            observation: dict[str, object] = {
                "requests": buckets[-1],
                "errors": totals[3] / 4,
                "h": dict(zip(keys, buckets, strict=False)),
                "memory": float(rng.normal(1e8, 1e6)),
            }
            for name in list(observation):
                roll = rng.random()
                if roll < 0.04:
                    del observation[name]
                elif roll < 0.06:
                    observation[name] = rng.choice(["x", math.nan, True, 1e300, 7])
            roll = rng.random()  # now and then other counters (a new tuple: not the same names)
            names = counters if roll < 0.85 else ("requests",) if roll < 0.95 else ("errors", "x")
            fast.observe(observation, float(t), names, histograms, gauges)
            # Without the common-case shortcut: the general code alone.
            slow.observe_general(observation, float(t), names, histograms, gauges)
            if rng.random() < 0.8:
                assert fast.take() == slow.take()
                assert fast.resets == slow.resets
