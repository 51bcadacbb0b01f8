"""The ``test`` step: run a test suite, re-run its failures to find flaky tests, gate.

The first run is the whole ``command``. Tests that failed run again, up to
``reruns`` times, through ``rerun_command`` (only those tests) or the whole
command again; a test that passes on a re-run is flaky, not failed. Each run is
journaled (``test.run``), then the verdict with counts, failures and flaky tests
(``test.verdict``), and any test added to the quarantine file
(``test.quarantined``). A run that times out, or whose report is missing or
unparsable, fails the gate with the reason: missing evidence never passes. A pause,
abort or rollback requested while a run goes on stops it at once; the step runs
again, from its first run, on resume.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rollsafe.config.test_gate import TestStep
from rollsafe.controller.context import StepContext, StepOutcome
from rollsafe.errors import TestReportError
from rollsafe.gates.junit import JUnitReport, TestCase, read_junit
from rollsafe.gates.quarantine import add_to_quarantine, read_quarantine
from rollsafe.gates.tests import classify, decide
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import SuiteRun, SuiteVerdictEntry
from rollsafe.support.private import private_directory
from rollsafe.targets import procs
from rollsafe.targets.execute import KILL_GRACE, CommandResult, run_command

_REQUEST_POLL = 0.25
"""Seconds between looks for a pause, abort or rollback request while a test command runs."""


def run_test_step(context: StepContext, spec: TestStep) -> StepOutcome:
    plan_dir = Path(context.store.get_rollout(context.rollout_id).plan_path).parent
    cwd = plan_dir / spec.cwd if spec.cwd is not None else plan_dir
    quarantine_file = plan_dir / spec.quarantine if spec.quarantine is not None else None
    quarantine = read_quarantine(quarantine_file)
    private_directory(context.home / "tests")
    reports = Path(tempfile.mkdtemp(prefix=f"{context.rollout_id}-", dir=context.home / "tests"))
    env = {**os.environ, **spec.env}

    runs: list[dict[str, TestCase]] = []
    still_failing: list[TestCase] = []
    for attempt in range(spec.reruns + 1):
        if attempt and not still_failing:
            break
        if attempt and (request := context.requested()):
            return context.interruption(request)
        junit = reports / f"run-{attempt}.xml" if spec.junit is None else cwd / spec.junit
        if attempt == 0 or spec.rerun_command is None:
            argv = [arg.replace("{junit}", str(junit)) for arg in spec.command]
        else:
            argv = rerun_argv(spec, still_failing, junit)
        junit.unlink(missing_ok=True)  # a report left from before must never be read as this run's
        result = _run_heeding_requests(context, argv, cwd, env, spec.timeout)
        if request := context.requested():  # the run was stopped: it runs again on resume
            stopped = f"stopped: {request} requested"
            context.journal(Kind.TEST_RUN, _run_record(attempt, result, junit, None, stopped))
            return context.interruption(request)
        report, problem = _read(result, junit)
        context.journal(Kind.TEST_RUN, _run_record(attempt, result, junit, report, problem))
        if problem is not None:
            return _failed(context, problem, runs)
        assert report is not None
        outcomes = report.outcomes()
        runs.append(outcomes)
        if attempt == 0:
            still_failing = [case for case in outcomes.values() if case.failing]
        else:
            still_failing = [
                case
                for case in still_failing
                if case.id not in outcomes or outcomes[case.id].failing
            ]

    results = classify(runs, quarantine)
    verdict = decide(
        results,
        min_pass_rate=spec.min_pass_rate,
        must_pass=spec.must_pass,
        fail_on_flaky=spec.fail_on_flaky,
    )
    entry: SuiteVerdictEntry = {
        **verdict.to_dict(),
        "runs": len(runs),
        "quarantine_file": _str(quarantine_file),
    }
    context.journal(Kind.TEST_VERDICT, entry)
    record: dict[str, Any] = dict(entry)
    if spec.quarantine_flaky and quarantine_file is not None and verdict.flaky:
        added = add_to_quarantine(
            quarantine_file,
            [r.case.id for r in verdict.flaky],
            why=f"rollout {context.rollout_id}",
        )
        if added:
            context.journal(Kind.TEST_QUARANTINED, {"file": str(quarantine_file), "tests": added})
            record["newly_quarantined"] = added
    if verdict.passed:
        return StepOutcome("succeeded", record)
    return StepOutcome("failed", record, reason="test gate failed: " + "; ".join(verdict.reasons))


def _run_heeding_requests(
    context: StepContext, argv: list[str], cwd: Path, env: dict[str, str], timeout: float
) -> CommandResult:
    """Run the test command; a pause, abort or rollback request stops it at once
    (its process group), not after a suite that may take minutes."""
    done = threading.Event()

    def watch(pid: int) -> None:
        def loop() -> None:
            while not done.wait(_REQUEST_POLL):
                if context.requested():
                    procs.stop_groups([pid], KILL_GRACE)
                    return

        threading.Thread(target=loop, name="test-step-requests", daemon=True).start()

    try:
        return run_command(argv, step="test", cwd=cwd, env=env, timeout=timeout, on_start=watch)
    finally:
        done.set()


def rerun_argv(spec: TestStep, failing: Sequence[TestCase], junit: Path) -> list[str]:
    """``rerun_command`` with ``{junit}`` and ``{tests}`` filled in for ``failing``."""
    assert spec.rerun_command is not None
    written = [
        spec.rerun_format.format(
            classname=case.classname, name=case.name, file=case.file, id=case.id
        )
        for case in failing
    ]
    argv: list[str] = []
    for arg in spec.rerun_command:
        if arg == "{tests}" and spec.rerun_separator is None:
            argv.extend(written)
        else:
            joined = (spec.rerun_separator or " ").join(written)
            argv.append(arg.replace("{tests}", joined).replace("{junit}", str(junit)))
    return argv


def _read(result: CommandResult, junit: Path) -> tuple[JUnitReport | None, str | None]:
    if result.error is not None or result.timed_out:
        return None, f"the test command {result.describe()}: {result.command}\n{result.tail()}"
    try:
        return read_junit(junit), None
    except TestReportError as error:
        return None, f"{error} (the test command {result.describe()})\n{result.tail()}"


def _run_record(
    attempt: int,
    result: CommandResult,
    junit: Path,
    report: JUnitReport | None,
    problem: str | None,
) -> SuiteRun:
    record: SuiteRun = {
        "attempt": attempt,
        "argv": list(result.argv),
        "exit_code": result.exit_code,
        "timed_out": result.timed_out,
        "duration": round(result.duration, 3),
        "junit": str(junit),
        "output_tail": result.tail(10),
    }
    if report is not None:
        cases = report.outcomes().values()
        record["tests"] = len(cases)
        record["failing"] = sum(case.failing for case in cases)
    if problem is not None:
        record["problem"] = problem.split("\n")[0]
    return record


def _failed(context: StepContext, problem: str, runs: list[dict[str, TestCase]]) -> StepOutcome:
    record: SuiteVerdictEntry = {
        "passed": False,
        "reasons": [problem.split("\n")[0]],
        "runs": len(runs),
    }
    context.journal(Kind.TEST_VERDICT, record)
    reason = f"test gate failed: {problem}"
    return StepOutcome("failed", {**record, "detail": problem}, reason=reason)


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)
