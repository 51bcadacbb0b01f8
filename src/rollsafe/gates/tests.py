"""The test gate's verdict: from one or more runs of a suite, which tests passed, failed
or are flaky, and whether the gate passes.

A test is *flaky* when it both failed and passed across the runs (or the tool
itself saw it pass on a retry). It is reported as flaky, not as failed, and
counts as passed unless the plan says ``fail_on_flaky``. Quarantined tests run
and are reported but are not counted. Tests named in ``must_pass`` must be in
the report and pass, quarantined or not. A gate with nothing to count fails:
missing evidence never passes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from rollsafe.gates.junit import TestCase
from rollsafe.journal.payloads import SuiteCase, SuiteVerdict

Status = Literal["passed", "failed", "error", "skipped", "flaky"]
_LISTED = 50
"""Failures and flaky tests listed in a verdict; the counts cover the rest."""


def matches(entry: str, case: TestCase) -> bool:
    """A plan's test name matches ``classname::name`` exactly, or a bare name its name."""
    return entry == case.id or ("::" not in entry and entry == case.name)


def matching(entries: Iterable[str], case: TestCase) -> bool:
    return any(matches(entry, case) for entry in entries)


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # not a pytest test class, whatever its name says

    case: TestCase
    """The case as the first run reported it."""
    status: Status
    outcomes: tuple[str, ...]
    """Its outcome in each run it took part in, first run first."""
    quarantined: bool = False

    def to_dict(self) -> SuiteCase:
        return {
            "id": self.case.id,
            "status": self.status,
            "outcomes": list(self.outcomes),
            "message": self.case.message,
            "quarantined": self.quarantined,
        }


@dataclass(frozen=True)
class TestVerdict:
    __test__ = False  # not a pytest test class, whatever its name says

    passed: bool
    reasons: list[str]
    counts: dict[str, int]
    pass_rate: float | None
    """Percent of counted tests that passed; None when none were counted."""
    min_pass_rate: float
    results: list[TestResult] = field(default_factory=list)

    def of(self, status: str) -> list[TestResult]:
        return [r for r in self.results if r.status == status]

    @property
    def failures(self) -> list[TestResult]:
        return [r for r in self.results if r.status in ("failed", "error")]

    @property
    def flaky(self) -> list[TestResult]:
        return self.of("flaky")

    def to_dict(self) -> SuiteVerdict:
        return {
            "passed": self.passed,
            "reasons": self.reasons,
            "counts": self.counts,
            "pass_rate": None if self.pass_rate is None else round(self.pass_rate, 2),
            "min_pass_rate": self.min_pass_rate,
            "failures": [r.to_dict() for r in self.failures[:_LISTED]],
            "flaky": [r.to_dict() for r in self.flaky[:_LISTED]],
            "quarantined": [r.case.id for r in self.results if r.quarantined][:_LISTED],
        }


def classify(
    runs: Sequence[dict[str, TestCase]], quarantine: Iterable[str] = ()
) -> list[TestResult]:
    """Each test of the first run with its status across all runs.

    ``runs[0]`` is the whole suite; later runs may hold only the tests run again.
    A test that passed first and failed on a whole re-run is flaky too: it showed both.
    """
    listed = list(quarantine)
    results = []
    for test_id, case in runs[0].items():
        outcomes = tuple(run[test_id].outcome for run in runs if test_id in run)
        failed = any(o in ("failed", "error") for o in outcomes)
        passed = any(o == "passed" for o in outcomes)
        status: Status
        if (failed and passed) or case.flaky:
            status = "flaky"
        elif failed:
            status = "error" if outcomes[-1] == "error" else "failed"
        elif passed:
            status = "passed"
        else:
            status = "skipped"
        results.append(TestResult(case, status, outcomes, quarantined=matching(listed, case)))
    return results


def decide(
    results: list[TestResult],
    *,
    min_pass_rate: float,
    must_pass: Sequence[str] = (),
    fail_on_flaky: bool = False,
) -> TestVerdict:
    """The gate's verdict over classified results, with the reasons it failed."""
    good = {"passed"} if fail_on_flaky else {"passed", "flaky"}
    counted = [r for r in results if r.status != "skipped" and not r.quarantined]
    good_count = sum(r.status in good for r in counted)
    counts: dict[str, int] = {s: sum(r.status == s for r in results) for s in _STATUSES}
    counts["total"] = len(results)
    counts["quarantined"] = sum(r.quarantined for r in results)
    counts["counted"] = len(counted)
    rate = 100.0 * good_count / len(counted) if counted else None
    reasons: list[str] = []
    if not results:
        reasons.append("the report holds no tests: nothing ran, so nothing passed")
    elif rate is None:
        reasons.append("every test was skipped or quarantined: nothing counted")
    elif rate < min_pass_rate:
        failing = [r.case.id for r in counted if r.status not in good]
        reasons.append(
            f"pass rate {rate:.1f}% is below {min_pass_rate:g}% "
            f"({good_count}/{len(counted)}; failing: {', '.join(failing[:10])}"
            f"{' …' if len(failing) > 10 else ''})"
        )
    for entry in must_pass:
        found = [r for r in results if matches(entry, r.case)]
        if not found:
            reasons.append(f"must-pass test {entry!r} is not in the report")
        elif bad := [r for r in found if r.status not in good]:
            reasons.append(
                f"must-pass test {entry!r} did not pass ({', '.join(r.status for r in bad)})"
            )
    return TestVerdict(not reasons, reasons, counts, rate, min_pass_rate, results)


_STATUSES: tuple[Status, ...] = ("passed", "failed", "error", "skipped", "flaky")
