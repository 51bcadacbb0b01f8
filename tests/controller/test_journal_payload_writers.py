"""The baseline, flag-change, verdict and guard entries have the keys their TypedDicts name.

`rollsafe.journal.payloads` only describes the entries (a cast); these run the
real writers (the controller on fakes, the SQLite store's flag rules) and hold
each description to what is journaled: every required key there, no key the
TypedDict does not name, and the optional keys where the case writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from rollsafe.journal import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import (
    AnalysisVerdict,
    Baseline,
    FlagChanged,
    FlagDeleted,
    GuardEventRecord,
    MetricVerdictRecord,
    VerdictRecord,
    analysis_verdict,
    baseline,
    baseline_release,
    definition_after,
    flag_change,
    flag_changed,
    guard_event,
    outcome_of,
    step_verdict,
    turned_on,
)
from rollsafe.store import RolloutState
from rollsafe.testing import ReplaySource, steady
from tests.controller.rig import Rig
from tests.controller.test_html_incident_report import broken_canary
from tests.controller.test_rollback_ladder import STEPS


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


def test_a_reader_refuses_an_entry_of_another_kind(rig: Rig) -> None:
    controller, rollout_id = rig.create(["promote"])
    controller.run(rollout_id)
    created = rig.stores[-1].journal(rollout_id)[0]

    for read in (analysis_verdict, flag_changed, flag_change, guard_event):
        with pytest.raises(ValueError, match=r"is rollout\.created, not (flag|analysis|guard)"):
            read(created)
