"""The state machine on fakes: pause, abort and rollback requests before and during each
step kind, analysis verdicts from replayed data, and promotion after the watch window.

No process and no socket: rollsafe.testing's target, router and replay source
over a real SQLite store (tests/controller/rig.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from rollsafe.controller.blindness import BLIND_EVENT
from rollsafe.journal import Kind
from rollsafe.store import RolloutState, StepState
from rollsafe.testing import ReplaySource, steady
from rollsafe.typing import Observation
from tests.controller.rig import Rig, request

REQUESTS = ("pause", "abort", "rollback")
FINAL = {
    "pause": RolloutState.PAUSED,
    "abort": RolloutState.ABORTED,
    "rollback": RolloutState.ROLLED_BACK,
}


def assert_undone(rig: Rig, rollout_id: str, command: str) -> None:
    """What an abort (undo everything) or a rollback (first level that recovers) leaves."""
    assert rig.target.canary_release() is None
    assert rig.flag_rollout()["enabled"] is False
    finished = rig.journaled(rollout_id, "rollback.finished")
    assert [entry["ok"] for entry in finished] == [True]
    if command == "abort":
        assert rig.target.current_release() == "1.0.0"
    else:
        assert finished[0]["final_level"] == 1  # flags off recovered: no further level


# -- requests before each step kind -------------------------------------------


@pytest.mark.parametrize("command", REQUESTS)
@pytest.mark.parametrize(
    "kind", ["backup", "deploy", "canary", "flag", "analysis", "pause", "promote"]
)
def test_a_request_before_a_step_keeps_it_from_running(rig: Rig, kind: str, command: str) -> None:
    # The request comes while the step before runs (its target call): the runner must
    # see it before starting ``kind``.
    before, hooked = ("canary", "deploy_canary") if kind == "deploy" else ("deploy", "deploy")
    steps = [before, kind] if kind == "promote" else [before, kind, "promote"]
    controller, rollout_id = rig.create(steps)
    rig.on_first(hooked, request(controller, rollout_id, command))

    rollout = controller.run(rollout_id)

    assert rollout.state is FINAL[command]
    assert rig.step_states(rollout_id)[:2] == [StepState.SUCCEEDED, StepState.PENDING]
    if command != "pause":
        assert_undone(rig, rollout_id, command)
        return
    assert rollout.step_index == 1
    resumed = rig.controller().run(rollout_id, resume=True)
    assert resumed.state is RolloutState.PROMOTED
    assert set(rig.step_states(rollout_id)) == {StepState.SUCCEEDED}


@pytest.mark.parametrize("command", REQUESTS)
def test_a_request_before_the_rollout_starts_keeps_every_step_from_running(
    rig: Rig, command: str
) -> None:
    controller, rollout_id = rig.create(["deploy", "promote"])
    request(controller, rollout_id, command)()

    rollout = controller.run(rollout_id)

    assert rollout.state is FINAL[command]
    assert rig.step_states(rollout_id) == [StepState.PENDING, StepState.PENDING]
    assert rig.target.called("deploy") == []
    if command == "pause":
        assert rig.controller().run(rollout_id, resume=True).state is RolloutState.PROMOTED


# -- requests during each step kind -------------------------------------------


@pytest.mark.parametrize("command", REQUESTS)
@pytest.mark.parametrize(("kind", "hooked"), [("deploy", "deploy"), ("canary", "deploy_canary")])
def test_a_request_during_a_target_step_stops_after_it(
    rig: Rig, kind: str, hooked: str, command: str
) -> None:
    controller, rollout_id = rig.create([kind, "flag", "promote"])
    rig.on_first(hooked, request(controller, rollout_id, command))

    rollout = controller.run(rollout_id)

    assert rollout.state is FINAL[command]
    # The target's work was done (the step is idempotent); nothing after it ran.
    assert rig.step_states(rollout_id) == [
        StepState.SUCCEEDED,
        StepState.PENDING,
        StepState.PENDING,
    ]
    if command == "pause":
        assert rig.controller().run(rollout_id, resume=True).state is RolloutState.PROMOTED
    else:
        assert_undone(rig, rollout_id, command)


def _after(seconds: float, action: Callable[[], object]) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


@pytest.mark.parametrize("command", REQUESTS)
@pytest.mark.parametrize("kind", ["pause", "promote", "analysis"])
def test_a_request_during_a_waiting_step_cuts_it_short(rig: Rig, kind: str, command: str) -> None:
    # A wait long enough that a request cutting it short is told apart from one that
    # ran out, even when a loaded machine delays the request's timer.
    step = "pause: {duration: 5s}" if kind == "pause" else kind
    controller, rollout_id = rig.create(["deploy", step], watch="5s")
    ask = request(controller, rollout_id, command)
    if kind == "analysis":
        # The request arrives with the first look's data.
        asked = threading.Event()
        data = steady()

        def look(t: float) -> list[Observation]:
            if not asked.is_set():
                asked.set()
                ask()
            return data[:2]

        rig.source = ReplaySource(look)
        controller = rig.controller()
    else:
        # Asked 20 ms after the deploy before it: within the step's 5 s wait.
        rig.on_first("deploy", lambda: _after(0.02, ask))

    started = time.monotonic()
    rollout = controller.run(rollout_id)

    assert rollout.state is FINAL[command]
    assert time.monotonic() - started < 3.0
    step = rig.stores[-1].steps(rollout_id)[1]
    assert step.result["interrupted_by"] == command
    if command == "pause":
        assert step.state is StepState.PENDING  # cut short: it runs again on resume
        if kind == "analysis":  # (the waits of the others would only repeat)
            rig.source = ReplaySource(steady())
            assert rig.controller().run(rollout_id, resume=True).state is RolloutState.PROMOTED
    else:
        assert step.state is StepState.FAILED
        assert_undone(rig, rollout_id, command)


# -- analysis verdicts from replayed data ------------------------------------


@pytest.mark.parametrize(
    ("data", "state", "reason"),
    [
        (steady(), RolloutState.PROMOTED, "all steps succeeded"),
        (steady(canary_error_rate=0.2), RolloutState.ROLLED_BACK, "analysis failed"),
        (steady(canary_error_rate=0.01, baseline_error_rate=0.01), RolloutState.PROMOTED, ""),
    ],
    ids=["healthy-passes", "errors-fail", "equal-errors-pass"],
)
def test_analysis_judges_the_replayed_data(
    rig: Rig, data: list[Observation], state: RolloutState, reason: str
) -> None:
    rig.source = ReplaySource(data)
    controller, rollout_id = rig.create(["canary", "analysis", "deploy", "promote"])

    rollout = controller.run(rollout_id)

    assert rollout.state is state
    assert reason in rollout.reason
    verdict = rig.journaled(rollout_id, "analysis.verdict")[0]["verdict"]["verdict"]
    assert verdict == ("pass" if state is RolloutState.PROMOTED else "fail")
    expected = "1.1.0" if state is RolloutState.PROMOTED else "1.0.0"
    assert rig.target.current_release() == expected
    assert rig.target.canary_release() is None
    assert rig.router.weights[-1] == 0  # the canary got 10%, then nothing
    assert 10 in rig.router.weights


def test_analysis_without_data_pauses_blind(rig: Rig) -> None:
    rig.source.fail()
    controller, rollout_id = rig.create(["flag", "analysis", "promote"])

    rollout = controller.run(rollout_id)

    assert rollout.state is RolloutState.PAUSED
    assert rig.journaled(rollout_id, BLIND_EVENT)
    assert rig.step_states(rollout_id)[1] is StepState.PENDING


# -- promotion after the watch window ------------------------------------------


def test_promotion_waits_out_the_watch_window(rig: Rig) -> None:
    controller, rollout_id = rig.create(["deploy", "promote"], watch="50ms")

    started = time.monotonic()
    rollout = controller.run(rollout_id)

    assert rollout.state is RolloutState.PROMOTED
    assert time.monotonic() - started >= 0.05
    promoted = rig.stores[-1].steps(rollout_id)[1].result
    assert promoted == {"release": "1.1.0", "flag_versions": {"checkout": 1}}


def test_a_broken_release_caught_in_the_watch_window_is_rolled_back(rig: Rig) -> None:
    guards = "[{name: health, metric: health, threshold: 0, for: 0s, severity: critical}]"
    controller, rollout_id = rig.create(["deploy", "promote"], watch="100ms", guards=guards)
    rig.on_first("deploy", lambda: rig.target.break_health("1.1.0"))

    rollout = controller.run(rollout_id)

    assert rollout.state is RolloutState.ROLLED_BACK
    assert "guard health" in rollout.reason
    assert rig.target.current_release() == "1.0.0"
    assert rig.step_states(rollout_id)[1] is StepState.FAILED


# -- one controller at a time -------------------------------------------------


def test_a_controller_that_lost_its_lease_stops_and_writes_nothing_more(rig: Rig) -> None:
    """Another controller took the lease mid-wait: the first one must not promote (or
    roll back) a rollout it no longer drives; the new holder reruns the step."""
    _, rollout_id = rig.create(["deploy", "pause: {duration: 5s}", "promote"])
    controller = rig.controller()
    controller.lease_ttl = 0.15  # renewed every 50 ms: the loss is seen at once
    rig.on_first(
        "deploy",
        lambda: rig.stores[-1].acquire_lease(
            rollout_id, "other-host:1", 30, take_over_from=controller.owner
        ),
    )

    started = time.monotonic()
    rollout = controller.run(rollout_id)

    assert time.monotonic() - started < 3.0  # the 5 s wait was cut short by the loss
    assert rollout.state is RolloutState.RUNNING
    assert rollout.owner == "other-host:1"
    steps = rig.stores[-1].steps(rollout_id)
    assert [s.state for s in steps] == [StepState.SUCCEEDED, StepState.RUNNING, StepState.PENDING]
    kinds = rig.kinds(rollout_id)
    assert Kind.ROLLOUT_LEASE_LOST in kinds
    assert Kind.ROLLOUT_PROMOTED not in kinds
    assert Kind.ROLLBACK_STARTED not in kinds
