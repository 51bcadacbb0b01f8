"""The test step over real pytest runs of small suites generated in tmp_path.

One suite holds a genuinely flaky test (it fails on its first run and passes after,
counted in a file) and, in some tests, a test that always fails. The gate must call
the first flaky, not failed, and fail on the second; a missing report must fail it.
The rollout around the step is the real state machine on fakes (tests/controller/rig.py).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

from rollsafe.journal.kinds import Kind
from rollsafe.report.html import render_html
from rollsafe.report.incident import build_incident, render_markdown
from rollsafe.store import RolloutState
from tests.controller.rig import Rig, request

FLAKY = """\
from pathlib import Path

COUNTER = Path(__file__).with_name("runs.txt")


def test_flaky():
    runs = int(COUNTER.read_text()) if COUNTER.exists() else 0
    COUNTER.write_text(str(runs + 1))
    assert runs > 0, "fails on the first run only"
"""
STEADY = "def test_one():\n    pass\n\n\ndef test_two():\n    pass\n"
BROKEN = "def test_broken():\n    assert 2 + 2 == 5\n"

PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]


def suite(root: Path, *, broken: bool) -> Path:
    directory = root / "suite"
    directory.mkdir()
    (directory / "pytest.ini").write_text("[pytest]\n")  # not the repository's settings
    (directory / "test_flaky.py").write_text(FLAKY)
    (directory / "test_steady.py").write_text(STEADY)
    if broken:
        (directory / "test_broken.py").write_text(BROKEN)
    return directory


def step_of(directory: Path, **options: object) -> str:
    spec = {
        "command": [*PYTEST, "--junitxml={junit}"],
        "cwd": str(directory),
        "env": {"PYTEST_ADDOPTS": ""},
        "timeout": "60s",
        **options,
    }
    return "test: " + json.dumps(spec)


def test_a_flaky_test_is_flaky_not_failed_and_the_rollout_goes_on(rig: Rig) -> None:
    directory = suite(rig.root, broken=False)
    controller, rollout_id = rig.create(
        [step_of(directory, quarantine="quarantine.txt", quarantine_flaky=True), "promote"]
    )

    rollout = controller.run(rollout_id)

    assert rollout.state is RolloutState.PROMOTED
    runs = rig.journaled(rollout_id, Kind.TEST_RUN)
    assert [(r["attempt"], r["tests"], r["failing"]) for r in runs] == [(0, 3, 1), (1, 3, 0)]
    (verdict,) = rig.journaled(rollout_id, Kind.TEST_VERDICT)
    assert verdict["passed"] is True
    assert verdict["counts"]["flaky"] == 1
    assert verdict["counts"]["failed"] == 0
    assert [f["id"] for f in verdict["flaky"]] == ["test_flaky::test_flaky"]
    assert verdict["flaky"][0]["outcomes"] == ["failed", "passed"]
    # Quarantined through the file the plan names (relative to the plan's folder).
    (added,) = rig.journaled(rollout_id, Kind.TEST_QUARANTINED)
    assert added["tests"] == ["test_flaky::test_flaky"]
    assert (rig.root / "quarantine.txt").read_text().startswith("test_flaky::test_flaky  # flaky")


def test_a_failing_test_fails_the_gate_after_its_reruns_and_rolls_back(rig: Rig) -> None:
    directory = suite(rig.root, broken=True)
    rerun = [*PYTEST, "--junitxml={junit}", "-k", "{tests}"]
    controller, rollout_id = rig.create(
        [
            "deploy",
            step_of(
                directory,
                rerun_command=rerun,
                rerun_format="{name}",
                rerun_separator=" or ",
                reruns=2,
            ),
            "promote",
        ],
        levels="[release]",
    )

    rollout = controller.run(rollout_id)

    assert rollout.state is RolloutState.ROLLED_BACK
    assert rig.target.current_release() == "1.0.0"
    runs = rig.journaled(rollout_id, Kind.TEST_RUN)
    # Re-runs run only the failed tests: both first, then the one still failing.
    assert runs[1]["argv"][-2:] == ["-k", "test_broken or test_flaky"]
    assert runs[2]["argv"][-2:] == ["-k", "test_broken"]
    assert [(r["tests"], r["failing"]) for r in runs] == [(4, 2), (2, 1), (1, 1)]
    (verdict,) = rig.journaled(rollout_id, Kind.TEST_VERDICT)
    assert verdict["passed"] is False
    assert verdict["counts"] == {
        "passed": 2, "failed": 1, "error": 0, "skipped": 0, "flaky": 1,
        "total": 4, "quarantined": 0, "counted": 4,
    }  # fmt: skip
    assert verdict["pass_rate"] == 75.0
    assert [f["id"] for f in verdict["failures"]] == ["test_broken::test_broken"]
    assert verdict["failures"][0]["outcomes"] == ["failed", "failed", "failed"]
    assert "test gate failed: pass rate 75.0% is below 100%" in (rollout.reason or "")
    # The incident report says what the gate saw.
    report = build_incident(rig.stores[-1].journal(rollout_id))
    assert report["gates"]["tests"][0]["counts"]["flaky"] == 1
    markdown = render_markdown(report)
    assert "- test gate 1: **FAILED** after 3 run(s); pass rate 75.0% (needs 100.0%)" in markdown
    assert "  - failed: `test_broken::test_broken` (failed → failed → failed)" in markdown
    assert "  - flaky: `test_flaky::test_flaky` (failed → passed)" in markdown
    # and so does its HTML page, with an anchor to the section.
    entries = rig.stores[-1].journal(rollout_id)
    page = render_html(report, entries, [], "no charts")
    assert '<a href="#gates">Gates</a>' in page
    assert "test gate 1: **FAILED** after 3 run(s)" in page
    assert "flaky: `test_flaky::test_flaky` (failed → passed)" in page


def test_a_pass_rate_threshold_and_quarantine_let_a_known_failure_through(rig: Rig) -> None:
    directory = suite(rig.root, broken=True)
    (rig.root / "quarantine.txt").write_text("# known broken, ticket 12\ntest_broken\n")
    controller, rollout_id = rig.create(
        [
            step_of(
                directory,
                quarantine="quarantine.txt",
                must_pass=["test_steady::test_one"],
                reruns=1,
            ),
            "promote",
        ]
    )

    assert controller.run(rollout_id).state is RolloutState.PROMOTED
    (verdict,) = rig.journaled(rollout_id, Kind.TEST_VERDICT)
    assert verdict["quarantined"] == ["test_broken::test_broken"]
    assert verdict["counts"]["counted"] == 3
    assert verdict["pass_rate"] == 100.0
    # Still reported: a quarantined failure is not hidden.
    assert [f["id"] for f in verdict["failures"]] == ["test_broken::test_broken"]


def test_a_must_pass_test_that_is_missing_fails_the_gate(rig: Rig) -> None:
    directory = suite(rig.root, broken=False)
    controller, rollout_id = rig.create(
        [step_of(directory, must_pass=["test_checkout"], min_pass_rate=50), "promote"]
    )
    assert controller.run(rollout_id).state is RolloutState.ROLLED_BACK
    (verdict,) = rig.journaled(rollout_id, Kind.TEST_VERDICT)
    assert verdict["reasons"] == ["must-pass test 'test_checkout' is not in the report"]


def test_a_command_that_writes_no_report_fails_the_gate(rig: Rig) -> None:
    spec = {
        "command": [sys.executable, "-c", "print('all good, honest')"],
        "junit": "junit.xml",
        "cwd": str(rig.root),
    }
    (rig.root / "junit.xml").write_text(
        "<testsuite><testcase name='stale'/></testsuite>"  # from an earlier run: never read
    )
    controller, rollout_id = rig.create(["test: " + json.dumps(spec), "promote"])

    assert controller.run(rollout_id).state is RolloutState.ROLLED_BACK
    (verdict,) = rig.journaled(rollout_id, Kind.TEST_VERDICT)
    assert verdict["passed"] is False
    assert "no JUnit report: the test command did not write one" in verdict["reasons"][0]


def test_a_test_command_that_times_out_fails_the_gate(rig: Rig) -> None:
    spec = {
        "command": [sys.executable, "-c", "import time; time.sleep(30)", "{junit}"],
        "timeout": "300ms",
    }
    controller, rollout_id = rig.create(["test: " + json.dumps(spec), "promote"])

    assert controller.run(rollout_id).state is RolloutState.ROLLED_BACK
    (verdict,) = rig.journaled(rollout_id, Kind.TEST_VERDICT)
    assert "timed out after" in verdict["reasons"][0]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"command": ["pytest"]}, "give junit: (the report the command writes) or use {junit}"),
        ({"command": ["pytest", "{report}"]}, "unknown placeholder {report}"),
        (
            {"command": ["pytest", "{junit}"], "rerun_command": ["pytest"]},
            "rerun_command must name {tests}",
        ),
        ({"command": ["t", "{junit}"], "quarantine_flaky": True}, "quarantine_flaky needs"),
        ({"command": ["t", "{junit}"], "rerun_format": "{nme}"}, "rerun_format '{nme}' may name"),
        ({"command": ["t", "{junit}"], "reruns": 11}, "less than or equal to 10"),
    ],
)
def test_a_bad_test_step_is_refused_at_load_with_its_line(
    rig: Rig, options: dict[str, object], message: str
) -> None:
    from rollsafe.errors import PlanError

    with pytest.raises(PlanError) as caught:
        rig.create(["test: " + json.dumps(options), "promote"])
    assert message in str(caught.value)
    assert "plan.yaml:" in str(caught.value)
    assert "steps[0].test" in str(caught.value)


def test_a_pause_during_a_long_test_run_stops_it_and_the_step_runs_again_on_resume(
    rig: Rig,
) -> None:
    marker = rig.root / "ran.txt"
    script = (
        "import sys, time, pathlib\n"
        "p = pathlib.Path(sys.argv[1]); n = int(p.read_text()) if p.exists() else 0\n"
        "p.write_text(str(n + 1))\n"
        "if n == 0: time.sleep(60)\n"
        "pathlib.Path(sys.argv[2]).write_text(\"<testsuite><testcase name='t'/></testsuite>\")\n"
    )
    spec = {"command": [sys.executable, "-c", script, str(marker), "{junit}"], "timeout": "90s"}
    controller, rollout_id = rig.create(["test: " + json.dumps(spec), "promote"])
    timer = threading.Timer(1.0, request(controller, rollout_id, "pause"))
    timer.start()
    began = time.monotonic()
    try:
        rollout = controller.run(rollout_id)
    finally:
        timer.cancel()

    assert rollout.state is RolloutState.PAUSED
    assert time.monotonic() - began < 20  # stopped, not waited for the 60 s run
    assert rig.journaled(rollout_id, Kind.TEST_VERDICT) == []  # no verdict from a cut run
    (stopped,) = rig.journaled(rollout_id, Kind.TEST_RUN)
    assert stopped["problem"] == "stopped: pause requested"
    resumed = rig.controller().run(rollout_id, resume=True)
    assert resumed.state is RolloutState.PROMOTED
    assert marker.read_text() == "2"
