"""The test gate's verdict over runs, without running anything: statuses across runs,
pass rate, must-pass tests, quarantine and flaky tests."""

from __future__ import annotations

from rollsafe.gates.junit import TestCase
from rollsafe.gates.tests import classify, decide


def run(**outcomes: str) -> dict[str, TestCase]:
    return {
        f"m::{name}": TestCase("m", name, outcome)  # type: ignore[arg-type]
        for name, outcome in outcomes.items()
    }


def test_statuses_across_runs() -> None:
    runs = [
        run(a="passed", b="failed", c="failed", d="skipped", e="error"),
        run(b="passed", c="failed", e="error"),
        run(c="failed", e="passed"),
    ]
    statuses = {r.case.name: (r.status, r.outcomes) for r in classify(runs)}
    assert statuses == {
        "a": ("passed", ("passed",)),
        "b": ("flaky", ("failed", "passed")),
        "c": ("failed", ("failed", "failed", "failed")),
        "d": ("skipped", ("skipped",)),
        "e": ("flaky", ("error", "error", "passed")),
    }


def test_a_test_that_passed_then_failed_on_a_whole_rerun_is_flaky() -> None:
    results = classify([run(a="passed", b="failed"), run(a="failed", b="failed")])
    assert [r.status for r in results] == ["flaky", "failed"]


def test_pass_rate_counts_flaky_as_passed_unless_asked() -> None:
    results = classify([run(a="passed", b="failed", c="passed"), run(b="passed")])
    assert decide(results, min_pass_rate=100).passed
    strict = decide(results, min_pass_rate=100, fail_on_flaky=True)
    assert not strict.passed
    assert strict.reasons == ["pass rate 66.7% is below 100% (2/3; failing: m::b)"]


def test_the_runbooks_fifty_percent() -> None:
    results = classify([run(a="passed", b="failed", c="failed", d="passed")])
    assert decide(results, min_pass_rate=50).passed
    assert not decide(results, min_pass_rate=51).passed


def test_quarantine_excludes_from_the_rate_but_not_from_must_pass() -> None:
    results = classify([run(a="passed", b="failed")], quarantine=["b"])
    verdict = decide(results, min_pass_rate=100)
    assert verdict.passed
    assert verdict.counts["counted"] == 1
    must = decide(results, min_pass_rate=100, must_pass=["m::b"])
    assert must.reasons == ["must-pass test 'm::b' did not pass (failed)"]


def test_nothing_counted_never_passes() -> None:
    assert decide([], min_pass_rate=0).reasons == [
        "the report holds no tests: nothing ran, so nothing passed"
    ]
    skipped = classify([run(a="skipped")])
    assert decide(skipped, min_pass_rate=0).reasons == [
        "every test was skipped or quarantined: nothing counted"
    ]
