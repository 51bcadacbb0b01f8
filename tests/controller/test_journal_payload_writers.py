"""Entries of each typed kind have the keys their TypedDicts name.

`rollsafe.journal.payloads` only describes the entries (a cast); these run the
real writers (the controller on fakes, the SQLite store's flag rules) and hold
each description to what is journaled: every required key there, no key the
TypedDict does not name, and the optional keys where the case writes them.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from typing import Any

import pytest

from rollsafe.controller.budgets import override
from rollsafe.controller.drills import create_drill, run_drill
from rollsafe.errors import TemporaryError
from rollsafe.journal import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import (
    REQUEST_KINDS,
    ROLLOUT_STATE_KINDS,
    STEP_STATE_KINDS,
    AnalysisVerdict,
    Baseline,
    BudgetChecked,
    BudgetFrozen,
    BudgetOverride,
    BudgetRecord,
    ClientLag,
    DrilledLevel,
    DrilledRestore,
    DrillFinished,
    DrillStarted,
    FlagChanged,
    FlagDeleted,
    GuardEventRecord,
    LoadArm,
    LoadStarted,
    LoadVerdict,
    MetricsBlind,
    MetricVerdictRecord,
    RolloutCreated,
    RolloutMoved,
    RolloutRequest,
    StepMoved,
    StepRetry,
    SuiteCase,
    SuiteRun,
    SuiteVerdictEntry,
    Throughput,
    VerdictRecord,
    analysis_verdict,
    baseline,
    baseline_release,
    budget_checked,
    budget_frozen,
    budget_override,
    definition_after,
    drill_finished,
    drill_started,
    flag_change,
    flag_changed,
    guard_event,
    load_started,
    load_verdict,
    metrics_blind,
    outcome_of,
    result_of,
    rollout_created,
    rollout_moved,
    rollout_request,
    step_moved,
    step_retry,
    step_verdict,
    suite_run,
    suite_verdict,
    turned_on,
)
from rollsafe.store import RolloutState
from rollsafe.testing import ReplaySource, steady
from tests.controller.rig import Rig
from tests.controller.test_drills import plan as drill_plan
from tests.controller.test_html_incident_report import broken_canary
from tests.controller.test_rollback_ladder import STEPS
from tests.controller.test_test_gate import step_of, suite
from tests.load.services import slow_service
from tests.ports import unused_port
from tests.slo.test_budget_freeze import create as create_with_slos
from tests.slo.test_budget_freeze import slos


def keys_of(payload: Any, data: Mapping[str, Any], *written: str) -> None:
    """``data`` has every required key of ``payload``, the optional ``written`` ones, no other."""
    required, optional = set(payload.__required_keys__), set(payload.__optional_keys__)
    assert set(written) <= optional, f"{written} are not optional keys of {payload.__name__}"
    assert set(data) == required | set(written), payload.__name__


def of(entries: list[JournalEntry], kind: Kind) -> list[JournalEntry]:
    return [e for e in entries if e.kind == kind]


def test_the_baseline_names_the_release_and_flag_versions_before_the_first_step(rig: Rig) -> None:
    live = rig.target.current_release()
    controller, rollout_id = rig.create(STEPS)

    assert controller.run(rollout_id).state is RolloutState.PROMOTED

    entries = rig.stores[-1].journal(rollout_id)
    [entry] = of(entries, Kind.ROLLOUT_BASELINE)
    keys_of(Baseline, entry.data)
    found = baseline(entries)
    assert found == entry.data
    assert found is not entry.data
    assert baseline_release(entries) == live != rig.target.current_release()
    # The plan's flag did not exist: the controller created it (off) just before.
    created = flag_changed(of(entries, Kind.FLAG_CHANGED)[0])
    assert created["name"] == "checkout"
    assert found["flags"] == {"checkout": created["version"]}
    assert baseline(entries[:1]) is None
    assert baseline_release(entries[:1]) is None


def test_the_flag_changes_a_rollout_makes_have_exactly_the_typed_keys(rig: Rig) -> None:
    controller, rollout_id = rig.create(STEPS)
    controller.run(rollout_id)

    changes = of(rig.stores[-1].journal(rollout_id), Kind.FLAG_CHANGED)
    assert len(changes) >= 2  # created off at the baseline, then the flag step's 50%
    for entry in changes:
        keys_of(FlagChanged, entry.data)  # the default environment goes unnamed
    assert [turned_on(e) for e in changes[:2]] == [False, True]
    assert flag_changed(changes[1])["before"] == flag_changed(changes[0])["after"]


def test_flag_puts_and_deletes_in_any_environment_have_exactly_the_typed_keys(rig: Rig) -> None:
    rig.controller()  # opens the store
    store = rig.stores[-1]
    store.create_environment("staging", actor="test")
    on = {"name": "beta", "enabled": True, "strategies": []}
    for environment in ("default", "staging"):
        store.put_flag("beta", {**on, "enabled": False}, actor="test", environment=environment)
        store.put_flag("beta", on, actor="test", environment=environment)
        store.delete_flag("beta", actor="test", environment=environment)

    entries = store.journal()
    changed, deleted = of(entries, Kind.FLAG_CHANGED), of(entries, Kind.FLAG_DELETED)
    assert [flag_change(e)["version"] for e in changed + deleted] == [1, 2, 1, 2, 3, 3]
    for entry, named in zip(changed, (False, False, True, True), strict=True):
        keys_of(FlagChanged, entry.data, *(["environment"] if named else []))
    for entry, named in zip(deleted, (False, True), strict=True):
        keys_of(FlagDeleted, entry.data, *(["environment"] if named else []))
        assert definition_after(entry) is None
        assert flag_change(entry)["before"] == on
    assert [definition_after(e) for e in changed[:2]] == [{**on, "enabled": False}, on]
    assert flag_changed(changed[2])["environment"] == "staging"
    assert [turned_on(e) for e in entries] == [
        e.kind == Kind.FLAG_CHANGED and e.data["after"]["enabled"] for e in entries
    ]


def test_a_failed_analysis_journals_exactly_the_typed_verdict(rig: Rig) -> None:
    rig.source = ReplaySource(broken_canary())
    controller, rollout_id = rig.create(["canary", "analysis: {duration: 2s}", "deploy", "promote"])

    assert controller.run(rollout_id).state is RolloutState.ROLLED_BACK

    entries = rig.stores[-1].journal(rollout_id)
    [entry] = of(entries, Kind.ANALYSIS_VERDICT)
    keys_of(AnalysisVerdict, entry.data)
    verdict = analysis_verdict(entry)
    keys_of(VerdictRecord, verdict["verdict"])
    assert verdict["verdict"]["metrics"], "the judge gave no metric"
    for metric in verdict["verdict"]["metrics"]:
        keys_of(MetricVerdictRecord, metric)
    assert outcome_of(entry) == "fail"
    # The analysis step's result is the same record: the report reads it from step.failed.
    [failed] = [e for e in of(entries, Kind.STEP_FAILED) if e.data["kind"] == "analysis"]
    assert step_verdict(failed.data["result"]) == verdict["verdict"]
    assert step_verdict({"looks": 3, "blind": {}}) is None


def test_an_early_pass_adds_its_optional_keys(rig: Rig) -> None:
    rig.source = ReplaySource(
        steady(300, requests=500, canary_error_rate=0.01, baseline_error_rate=0.01)
    )
    controller, rollout_id = rig.create(["canary", "analysis: {duration: 60s}", "promote"])

    assert controller.run(rollout_id).state is RolloutState.PROMOTED

    [entry] = of(rig.stores[-1].journal(rollout_id), Kind.ANALYSIS_VERDICT)
    keys_of(AnalysisVerdict, entry.data, "passed_early")
    keys_of(VerdictRecord, entry.data["verdict"], "early_pass")
    assert outcome_of(entry) == "pass"


def test_a_tripped_rate_guard_journals_exactly_the_typed_evidence(rig: Rig) -> None:
    rig.source = ReplaySource(broken_canary())
    guards = (
        "[{name: errors, metric: error_rate, threshold: 0.01, arm: canary, window: 10s,"
        " for: 0s, severity: critical}]"
    )
    controller, rollout_id = rig.create(
        ["canary", "pause: {duration: 30s}", "promote"], guards=guards
    )

    rollout = controller.run(rollout_id)

    assert rollout.state is RolloutState.ROLLED_BACK, rollout.reason
    entries = rig.stores[-1].journal(rollout_id)
    [entry] = of(entries, Kind.GUARD_TRIPPED)
    rate = ("counts", "lower_bound", "confidence", "min_requests", "min_events")
    keys_of(GuardEventRecord, entry.data, *rate, "pending_since", "firing_since")
    trip = guard_event(entry)
    assert (trip["guard"], trip["severity"], trip["metric"]) == ("errors", "critical", "error_rate")
    assert trip["value"] is not None
    assert trip["value"] > trip["threshold"] == 0.01
    for firing in of(entries, Kind.GUARD_FIRING):
        assert guard_event(firing)["guard"] == "errors"


def test_a_tripped_health_guard_journals_only_the_common_evidence(rig: Rig) -> None:
    guards = "[{name: health, metric: health, threshold: 0, for: 0s, severity: critical}]"
    controller, rollout_id = rig.create(["deploy", "promote"], watch="100ms", guards=guards)
    rig.on_first("deploy", lambda: rig.target.break_health("1.1.0"))

    assert controller.run(rollout_id).state is RolloutState.ROLLED_BACK

    [entry] = of(rig.stores[-1].journal(rollout_id), Kind.GUARD_TRIPPED)
    keys_of(GuardEventRecord, entry.data, "pending_since", "firing_since")
    assert guard_event(entry)["metric"] == "health"


def test_an_analysis_that_never_sees_journals_exactly_the_typed_blindness(rig: Rig) -> None:
    rig.source.fail("backend down")
    controller, rollout_id = rig.create(
        ["canary", "analysis: {duration: 40ms, on_blind: rollback}", "promote"]
    )

    assert controller.run(rollout_id).state is RolloutState.ROLLED_BACK

    [entry] = of(rig.stores[-1].journal(rollout_id), Kind.METRICS_BLIND)
    keys_of(MetricsBlind, entry.data)
    blind = metrics_blind(entry)
    assert (blind["watcher"], blind["action"]) == ("analysis", "rollback")
    assert "backend down" in blind["error"]
    assert blind["since"] is not None
    assert blind["t"] >= blind["since"]
    assert isinstance(blind["blind_for"], float)


def test_a_reader_refuses_an_entry_of_another_kind(rig: Rig) -> None:
    controller, rollout_id = rig.create(["promote"])
    controller.run(rollout_id)
    created = rig.stores[-1].journal(rollout_id)[0]

    for read in (analysis_verdict, flag_changed, flag_change, guard_event, metrics_blind):
        with pytest.raises(
            ValueError, match=r"is rollout\.created, not (flag|analysis|guard|metrics)"
        ):
            read(created)


# -- steps and rollouts ---------------------------------------------------------


def test_a_promoted_rollout_journals_exactly_the_typed_step_and_state_keys(rig: Rig) -> None:
    controller, rollout_id = rig.create(STEPS)

    assert controller.run(rollout_id).state is RolloutState.PROMOTED

    entries = rig.stores[-1].journal(rollout_id)
    created = rollout_created(entries[0])
    keys_of(RolloutCreated, entries[0].data)
    assert [step["kind"] for step in created["steps"]] == STEPS
    running, succeeded = of(entries, Kind.STEP_RUNNING), of(entries, Kind.STEP_SUCCEEDED)
    assert len(running) == len(succeeded) == len(STEPS)
    for entry in running:
        keys_of(StepMoved, entry.data, "spec")  # a running step has no result yet
        assert result_of(entry) == {}
    for entry in succeeded:
        keys_of(StepMoved, entry.data, "result")
    assert [step_moved(e)["kind"] for e in succeeded] == STEPS
    assert [step_moved(e)["index"] for e in running] == list(range(len(STEPS)))
    assert all(step_moved(e)["attempt"] == 1 for e in running + succeeded)
    deployed = result_of(succeeded[STEPS.index("deploy")])
    assert deployed["release"] == "1.1.0"
    moves = [e for e in entries if e.kind in ROLLOUT_STATE_KINDS]
    assert [rollout_moved(e)["to"] for e in moves] == ["running", "promoted"]
    assert rollout_moved(moves[0])["from"] == "pending"
    for entry in moves:
        keys_of(RolloutMoved, entry.data, *(["reason"] if "reason" in entry.data else []))
        assert rollout_moved(entry).get("reason", "nonempty")  # never an empty reason


def test_a_failed_step_journals_its_error_and_the_rollout_its_reasons(rig: Rig) -> None:
    controller, rollout_id = rig.create(["deploy", "promote"])
    rig.target.fail("deploy")

    assert controller.run(rollout_id).state is RolloutState.ROLLED_BACK

    entries = rig.stores[-1].journal(rollout_id)
    [failed] = of(entries, Kind.STEP_FAILED)
    keys_of(StepMoved, failed.data, "result")
    assert step_moved(failed)["kind"] == "deploy"
    assert "FakeTarget.fail" in result_of(failed)["error"]
    moves = [e for e in entries if e.kind in ROLLOUT_STATE_KINDS]
    assert [rollout_moved(e)["to"] for e in moves] == ["running", "rolling_back", "rolled_back"]
    for entry in moves[1:]:
        keys_of(RolloutMoved, entry.data, "reason")
        assert "FakeTarget.fail" in rollout_moved(entry)["reason"]


def test_requests_journal_exactly_the_typed_keys(rig: Rig) -> None:
    _, rollout_id = rig.create(["promote"])
    store = rig.stores[-1]

    store.request(rollout_id, "pause", actor="test", reason="look first")
    store.request(rollout_id, None, actor="test")

    requests = [e for e in store.journal(rollout_id) if e.kind in REQUEST_KINDS]
    assert [e.kind for e in requests] == [
        Kind.ROLLOUT_PAUSE_REQUESTED,
        Kind.ROLLOUT_REQUEST_CLEARED,
    ]
    keys_of(RolloutRequest, requests[0].data, "reason")
    keys_of(RolloutRequest, requests[1].data)
    assert rollout_request(requests[0]) == {"reason": "look first"}
    assert rollout_request(requests[1]) == {}


def test_a_transient_error_journals_exactly_the_typed_retry(rig: Rig) -> None:
    controller, rollout_id = rig.create(["deploy", "promote"])

    def busy() -> None:
        raise TemporaryError("another deploy holds the lock", delay=0.01)

    rig.on_first("deploy", busy)

    assert controller.run(rollout_id).state is RolloutState.PROMOTED

    entries = rig.stores[-1].journal(rollout_id)
    [entry] = of(entries, Kind.STEP_RETRY)
    keys_of(StepRetry, entry.data)
    retry = step_retry(entry)
    assert (retry["index"], retry["kind"], retry["attempt"]) == (0, "deploy", 1)
    assert retry["delay"] == 0.01
    assert "holds the lock" in retry["error"]


def test_a_step_or_rollout_reader_refuses_an_entry_of_another_kind(rig: Rig) -> None:
    controller, rollout_id = rig.create(["promote"])
    controller.run(rollout_id)
    entries = rig.stores[-1].journal(rollout_id)
    created = entries[0]
    running = of(entries, Kind.STEP_RUNNING)[0]

    for read in (step_moved, step_retry, rollout_moved, rollout_request, result_of):
        with pytest.raises(ValueError, match=r"is rollout\.created, not (step|rollout)\."):
            read(created)
    with pytest.raises(ValueError, match=r"is step\.running, not rollout\.created"):
        rollout_created(running)
    assert set(STEP_STATE_KINDS) == {k for k in Kind if k.startswith("step.")} - {Kind.STEP_RETRY}


# -- drills -----------------------------------------------------------------------

RAN = (
    "applied",
    "recovered",
    "changed",
    "action_seconds",
    "verification_seconds",
    "seconds",
    "within_target",
)
"""The optional keys of a level that ran."""


def test_a_drill_journals_exactly_the_typed_start_and_result(rig: Rig) -> None:
    (rig.root / "root" / "releases" / "1.1.0").mkdir(parents=True)

    def act(name: str, args: tuple[Any, ...]) -> None:
        if name == "deploy" and args == ("1.1.0",):
            (rig.root / "uploads" / "logo.txt").write_text("written by 1.1.0")
        if args == ("1.0.0",):
            time.sleep(0.02)  # level 2 takes longer than its target: it fails, and says why

    rig.target.on_call = act
    path = drill_plan(rig, "{targets: {release: 10ms}}")
    controller = rig.controller()
    run = run_drill(controller, create_drill(controller, path, None))

    entries = rig.stores[-1].journal(run.rollout.id)
    [started] = of(entries, Kind.DRILL_STARTED)
    keys_of(DrillStarted, started.data)
    assert drill_started(started)["levels"] == ["flags", "release", "restore"]
    assert drill_started(started)["targets"]["release"] == 0.01
    [finished] = of(entries, Kind.DRILL_FINISHED)
    keys_of(DrillFinished, finished.data)
    result = drill_finished(finished)
    assert result == run.result
    assert result["ok"] is False
    flags, release, restore = result["levels"]
    keys_of(DrilledLevel, flags, *RAN)
    keys_of(DrilledLevel, release, *RAN, "problem")
    assert "over its target" in release["problem"]
    keys_of(DrilledLevel, restore, *RAN, "restore_seconds", "restored")
    [restored] = restore["restored"]
    keys_of(DrilledRestore, restored)
    assert (restored["kind"], restored["tables"], restored["rows"]) == ("files", {}, 0)
    for read in (drill_started, drill_finished):
        with pytest.raises(ValueError, match=r"is rollout\.created, not drill\."):
            read(entries[0])


# -- test steps ----------------------------------------------------------------------


def test_a_test_step_journals_exactly_the_typed_runs_and_verdict(rig: Rig) -> None:
    directory = suite(rig.root, broken=False)  # one flaky test: it fails once, then passes
    controller, rollout_id = rig.create(
        [step_of(directory, quarantine="quarantine.txt"), "promote"]
    )

    assert controller.run(rollout_id).state is RolloutState.PROMOTED

    entries = rig.stores[-1].journal(rollout_id)
    runs = of(entries, Kind.TEST_RUN)
    for entry in runs:
        keys_of(SuiteRun, entry.data, "tests", "failing")
    assert [(r["attempt"], r["tests"], r["failing"]) for r in map(suite_run, runs)] == [
        (0, 3, 1),
        (1, 3, 0),
    ]
    [entry] = of(entries, Kind.TEST_VERDICT)
    keys_of(SuiteVerdictEntry, entry.data, *SUITE_VERDICT_KEYS)
    verdict = suite_verdict(entry)
    assert (verdict["passed"], verdict["runs"]) == (True, 2)
    assert verdict["quarantine_file"] == str(rig.root / "quarantine.txt")  # beside the plan
    [flaky] = verdict["flaky"]
    keys_of(SuiteCase, flaky)
    assert flaky["outcomes"] == ["failed", "passed"]


SUITE_VERDICT_KEYS = (
    "counts",
    "pass_rate",
    "min_pass_rate",
    "failures",
    "flaky",
    "quarantined",
    "quarantine_file",
)
"""The optional keys of a verdict on runs that gave a report."""


def test_a_test_step_without_a_report_journals_only_the_short_verdict(rig: Rig) -> None:
    spec = {"command": [sys.executable, "-c", "pass"], "junit": "junit.xml", "cwd": str(rig.root)}
    controller, rollout_id = rig.create(["test: " + json.dumps(spec), "promote"])

    assert controller.run(rollout_id).state is RolloutState.ROLLED_BACK

    entries = rig.stores[-1].journal(rollout_id)
    [run] = of(entries, Kind.TEST_RUN)
    keys_of(SuiteRun, run.data, "problem")
    assert "no JUnit report" in suite_run(run)["problem"]
    [entry] = of(entries, Kind.TEST_VERDICT)
    keys_of(SuiteVerdictEntry, entry.data)
    assert suite_verdict(entry)["reasons"] == [suite_run(run)["problem"]]
    for read in (suite_run, suite_verdict):
        with pytest.raises(ValueError, match=r"is rollout\.created, not test\."):
            read(entries[0])


# -- error budgets ------------------------------------------------------------------


def test_a_budget_freeze_and_its_override_journal_exactly_the_typed_keys(rig: Rig) -> None:
    # Nothing listens on the port: the budget is unknown, and on_unknown: wait freezes.
    rollout_id = create_with_slos(rig, slos(f"http://127.0.0.1:{unused_port()}", "x"))
    assert rig.controller().run(rollout_id).state is RolloutState.PAUSED

    override(rig.stores[-1], rollout_id, actor="bob", reason="approved")

    entries = rig.stores[-1].journal(rollout_id)
    [checked] = of(entries, Kind.SLO_BUDGET_CHECKED)
    keys_of(BudgetChecked, checked.data)
    [budget] = budget_checked(checked)["budgets"]
    keys_of(BudgetRecord, budget)
    assert (budget["slo"], budget["remaining"]) == ("availability", None)
    assert budget["error"]
    [frozen] = of(entries, Kind.SLO_BUDGET_FROZEN)
    keys_of(BudgetFrozen, frozen.data)
    assert (budget_frozen(frozen)["below_floor"], budget_frozen(frozen)["unknown"]) == (
        [],
        ["availability"],
    )
    [overridden] = of(entries, Kind.SLO_BUDGET_OVERRIDE)
    keys_of(BudgetOverride, overridden.data)
    assert budget_override(overridden) == {"reason": "approved", "state": "paused"}
    for read in (budget_checked, budget_frozen, budget_override):
        with pytest.raises(ValueError, match=r"is rollout\.created, not slo\."):
            read(entries[0])


# -- load steps ---------------------------------------------------------------------


def test_a_load_step_journals_exactly_the_typed_start_and_verdict(rig: Rig) -> None:
    with slow_service(0.0) as baseline, slow_service(0.0) as candidate:
        spec = {
            "baseline": baseline,
            "candidate": candidate,
            "duration": "1s",
            "rate": 50,
            "warmup": "0s",
            "tool": "builtin",
        }
        controller, rollout_id = rig.create(["load: " + json.dumps(spec), "promote"])
        controller.run(rollout_id)  # a second of traffic is too little to pass: not checked

    entries = rig.stores[-1].journal(rollout_id)
    [started] = of(entries, Kind.LOAD_STARTED)
    keys_of(LoadStarted, started.data)
    assert load_started(started)["urls"] == {"baseline": baseline, "candidate": candidate}
    [entry] = of(entries, Kind.LOAD_VERDICT)
    keys_of(LoadVerdict, entry.data, "client_lag_ms")  # the built-in client samples its delays
    verdict = load_verdict(entry)
    assert set(verdict["arms"]) == {"baseline", "candidate"}
    for arm in verdict["arms"].values():
        keys_of(LoadArm, arm)  # no request failed: no by_error; no wrk: no wrk_percentiles
        assert arm["sent"] > 0
    keys_of(Throughput, verdict["throughput"])
    keys_of(ClientLag, verdict["client_lag_ms"])
    keys_of(VerdictRecord, verdict["judge"])
    assert verdict["outcome"] in ("pass", "fail", "inconclusive")
    for read in (load_started, load_verdict):
        with pytest.raises(ValueError, match=r"is rollout\.created, not load\."):
            read(entries[0])
