"""The ``test.run`` and ``test.verdict`` entries of a test step, and their readers.

Written by `rollsafe.controller.testgate` (the verdict's own part is what
`rollsafe.gates.tests.TestVerdict.to_dict` returns). The CLI's live lines show
each run and the verdict; the incident report's gates section lists the
verdicts with their failures and flaky tests. The names say "suite", not
"test": pytest would collect a ``Test...`` class or ``test_...`` function a test imports.
"""

# No `from __future__ import annotations`: the runtime keeps NotRequired only when the
# annotations are evaluated (the tests read __required_keys__ and __optional_keys__).
from typing import NotRequired, TypedDict, cast

from rollsafe.journal.chain import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads.reading import data_of


class SuiteRun(TypedDict):
    """A ``test.run`` entry: one run of the step's command (0 for the first, then re-runs)."""

    attempt: int
    argv: list[str]
    exit_code: int | None
    timed_out: bool
    duration: float
    junit: str
    """Where the run's JUnit XML report was asked for."""
    output_tail: str
    tests: NotRequired[int]
    failing: NotRequired[int]
    """Only when the report was read: its tests, and how many did not pass."""
    problem: NotRequired[str]
    """Only when the run gave no usable report (or was stopped): its first line."""


class SuiteCase(TypedDict):
    """One test in a verdict's ``failures`` or ``flaky`` (`rollsafe.gates.tests.TestResult`)."""

    id: str
    status: str
    outcomes: list[str]
    """Its outcome in each run, first run first."""
    message: str
    quarantined: bool


class SuiteVerdict(TypedDict):
    """The gate's verdict (`rollsafe.gates.tests.TestVerdict`)."""

    passed: bool
    reasons: list[str]
    counts: dict[str, int]
    pass_rate: float | None
    min_pass_rate: float
    failures: list[SuiteCase]
    flaky: list[SuiteCase]
    quarantined: list[str]
    """The ids of quarantined tests: run and reported, not counted."""


class SuiteVerdictEntry(TypedDict):
    """A ``test.verdict`` entry: the verdict's keys, or only the first three when no run gave
    a usable report (the gate failed on that problem)."""

    passed: bool
    reasons: list[str]
    runs: int
    counts: NotRequired[dict[str, int]]
    pass_rate: NotRequired[float | None]
    min_pass_rate: NotRequired[float]
    failures: NotRequired[list[SuiteCase]]
    flaky: NotRequired[list[SuiteCase]]
    quarantined: NotRequired[list[str]]
    quarantine_file: NotRequired[str | None]


def suite_run(entry: JournalEntry) -> SuiteRun:
    """A ``test.run`` entry's data (a copy)."""
    return cast(SuiteRun, data_of(entry, Kind.TEST_RUN))


def suite_verdict(entry: JournalEntry) -> SuiteVerdictEntry:
    """A ``test.verdict`` entry's data (a copy)."""
    return cast(SuiteVerdictEntry, data_of(entry, Kind.TEST_VERDICT))
