"""Approval gates on fakes: an ``approve`` step waits for `grant`, times out into its
configured outcome, notifies when it starts waiting, and survives its controller.

No process and no socket: rollsafe.testing's fakes over a real SQLite store
(tests/controller/rig.py). The real end to end (CLI, server, browser) is in
tests/server/test_dashboard_http.py and tests/server/test_dashboard_browser.py.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from rollsafe.config import load_plan
from rollsafe.controller import approvals
from rollsafe.controller.runner import Controller
from rollsafe.errors import ConflictError, PlanError
from rollsafe.journal.kinds import Kind
from rollsafe.store import Rollout, RolloutState, StepState
from rollsafe.store.sqlite import SqliteStore
from rollsafe.testing import CapturingNotifier, fake_adapters
from tests.controller.rig import Crash, Rig

GATE = 'approve: {message: "ship it?"}'


def run_in_thread(
    controller: Controller, rollout_id: str, **kwargs: Any
) -> tuple[threading.Thread, list[Rollout | BaseException]]:
    ended: list[Rollout | BaseException] = []

    def drive() -> None:
        try:
            ended.append(controller.run(rollout_id, **kwargs))
        except BaseException as error:  # a Crash ends the "process"
            ended.append(error)

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    return thread, ended


def wait_until_waiting(store: SqliteStore, rollout_id: str, timeout: float = 5.0) -> approvals.Wait:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        wait = approvals.waiting(store, rollout_id)
        if wait is not None:
            return wait
        time.sleep(0.01)
    raise AssertionError(f"rollout {rollout_id} never waited for approval")


def test_an_approval_lets_the_rollout_continue_and_names_who_gave_it(rig: Rig) -> None:
    controller, rollout_id = rig.create(["deploy", GATE, "promote"])
    thread, ended = run_in_thread(controller, rollout_id)
    store = rig.stores[-1]

    wait = wait_until_waiting(store, rollout_id)
    assert wait.message == "ship it?"
    assert wait.deadline is None
    time.sleep(0.3)  # still waiting: nothing but an approval moves it on
    assert rig.step_states(rollout_id) == [
        StepState.SUCCEEDED,
        StepState.RUNNING,
        StepState.PENDING,
    ]
    _, approved = approvals.grant(store, rollout_id, actor="token alice", comment="looks good")
    thread.join(5)

    assert approved
    assert isinstance(ended[0], Rollout)
    assert ended[0].state is RolloutState.PROMOTED
    result = store.steps(rollout_id)[1].result
    assert result["approved_by"] == "token alice"
    assert result["comment"] == "looks good"
    granted = [e for e in store.journal(rollout_id) if e.kind == Kind.APPROVAL_GRANTED]
    assert [e.actor for e in granted] == ["token alice"]


def test_approving_twice_is_harmless_and_approving_no_gate_is_refused(rig: Rig) -> None:
    controller, rollout_id = rig.create(["deploy", GATE, "promote"])
    store = rig.stores[-1]
    before = len(store.journal(rollout_id))
    with pytest.raises(ConflictError, match="waits for no approval"):
        approvals.grant(store, rollout_id, actor="token alice")
    assert len(store.journal(rollout_id)) == before  # nothing journaled

    thread, _ = run_in_thread(controller, rollout_id)
    wait_until_waiting(store, rollout_id)
    # Two approvers at once: the second is told who approved, and the journal has one.
    _, approved_first = approvals.grant(store, rollout_id, actor="token alice")
    assert approved_first
    # The step may already have seen it and moved on; either way no second grant lands.
    try:
        second, approved_second = approvals.grant(store, rollout_id, actor="token bob")
        assert not approved_second
        assert second.granted is not None
        assert second.granted.actor == "token alice"
    except ConflictError:
        pass  # the step had already seen the first approval and moved on
    thread.join(5)
    assert [e.actor for e in store.journal(rollout_id) if e.kind == Kind.APPROVAL_GRANTED] == [
        "token alice"
    ]


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        ("continue", RolloutState.PROMOTED),
        ("rollback", RolloutState.ROLLED_BACK),
        ("pause", RolloutState.PAUSED),
    ],
)
def test_a_timeout_takes_the_configured_outcome(
    rig: Rig, outcome: str, state: RolloutState
) -> None:
    gate = f"approve: {{timeout: 150ms, on_timeout: {outcome}}}"
    controller, rollout_id = rig.create(["deploy", "flag", gate, "promote"])

    started = time.monotonic()
    rollout = controller.run(rollout_id)

    assert time.monotonic() - started >= 0.15
    assert rollout.state is state
    timed_out = rig.journaled(rollout_id, Kind.APPROVAL_TIMED_OUT)
    assert [t["outcome"] for t in timed_out] == [outcome]
    if outcome == "rollback":
        assert rig.flag_rollout()["enabled"] is False  # the ladder ran: flags off
        assert "approval not given within 0.15s" in rollout.reason
    if outcome == "continue":
        assert rig.stores[-1].steps(rollout_id)[2].result["timed_out"] is True


def test_a_gate_paused_by_its_timeout_waits_anew_when_resumed(rig: Rig) -> None:
    gate = "approve: {timeout: 100ms, on_timeout: pause}"
    controller, rollout_id = rig.create(["deploy", gate, "promote"])
    assert controller.run(rollout_id).state is RolloutState.PAUSED
    assert rig.step_states(rollout_id)[1] is StepState.PENDING  # runs again on resume

    resumed = rig.controller()
    store = rig.stores[-1]
    thread, ended = run_in_thread(resumed, rollout_id, resume=True)
    wait = wait_until_waiting(store, rollout_id)
    approvals.grant(store, rollout_id, actor="token alice")
    thread.join(5)

    assert isinstance(ended[0], Rollout)
    assert ended[0].state is RolloutState.PROMOTED
    waits = [e for e in store.journal(rollout_id) if e.kind == Kind.APPROVAL_WAITING]
    assert len(waits) == 2
    assert waits[1].seq == wait.seq
    assert waits[1].data["deadline"] > waits[0].data["deadline"]


def test_a_pause_or_abort_ends_the_wait(rig: Rig) -> None:
    controller, rollout_id = rig.create(["deploy", "flag", GATE, "promote"])
    thread, ended = run_in_thread(controller, rollout_id)
    store = rig.stores[-1]
    wait_until_waiting(store, rollout_id)
    store.request(rollout_id, "abort", actor="token alice")
    thread.join(5)

    assert isinstance(ended[0], Rollout)
    assert ended[0].state is RolloutState.ABORTED
    assert rig.target.current_release() == "1.0.0"
    with pytest.raises(ConflictError):
        approvals.grant(store, rollout_id, actor="token bob")


def test_a_controller_killed_while_waiting_is_replaced_by_one_that_waits_on(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = "approve: {timeout: 30s, on_timeout: rollback}"
    controller, rollout_id = rig.create(["deploy", gate, "promote"])
    real_sleep = time.sleep
    sleeps = 0

    def dies_while_waiting(seconds: float) -> None:
        nonlocal sleeps
        sleeps += 1
        if sleeps == 2:
            raise Crash("controller killed")
        real_sleep(seconds)

    monkeypatch.setattr(approvals.time, "sleep", dies_while_waiting)
    with pytest.raises(Crash):
        controller.run(rollout_id)
    monkeypatch.setattr(approvals.time, "sleep", real_sleep)
    store = rig.stores[-1]
    first = approvals.waiting(store, rollout_id)
    assert first is not None
    assert first.granted is None

    # The approval lands while no controller is alive; the next one finds it at once.
    approvals.grant(store, rollout_id, actor="token alice")
    rollout = rig.controller().run(rollout_id)

    assert rollout.state is RolloutState.PROMOTED
    waits = rig.journaled(rollout_id, Kind.APPROVAL_WAITING)
    assert len(waits) == 1  # the same wait, not a new one with a new deadline
    assert rig.stores[-1].steps(rollout_id)[1].result["approved_by"] == "token alice"


def test_a_replaced_controller_keeps_the_original_deadline(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = "approve: {timeout: 400ms, on_timeout: continue}"
    controller, rollout_id = rig.create(["deploy", gate, "promote"])
    real_sleep = time.sleep

    def dies_at_once(seconds: float) -> None:
        raise Crash("controller killed")

    monkeypatch.setattr(approvals.time, "sleep", dies_at_once)
    with pytest.raises(Crash):
        controller.run(rollout_id)
    monkeypatch.setattr(approvals.time, "sleep", real_sleep)
    deadline = rig.journaled(rollout_id, Kind.APPROVAL_WAITING)[0]["deadline"]

    rollout = rig.controller().run(rollout_id)

    assert rollout.state is RolloutState.PROMOTED
    assert time.time() >= deadline  # it waited for the first deadline, not a new one
    assert time.time() - deadline < 1.0
    assert len(rig.journaled(rollout_id, Kind.APPROVAL_WAITING)) == 1


def test_waiting_for_approval_is_sent_to_the_notifiers(rig: Rig, tmp_path: Path) -> None:
    _, rollout_id = rig.create(["deploy", "approve: {timeout: 50ms, on_timeout: continue}"])
    heard = CapturingNotifier(["approval.waiting", "approval.timed_out"])
    store = SqliteStore(tmp_path / "rollsafe.db")
    rig.stores.append(store)
    controller = Controller(
        store,
        tmp_path / "home",
        adapters=fake_adapters(rig.target, rig.source, rig.router, [heard]),
    )

    assert controller.run(rollout_id).state is RolloutState.PROMOTED

    assert heard.kinds == ["approval.waiting", "approval.timed_out"]
    assert heard.entries[0].data["on_timeout"] == "continue"


def test_the_default_webhook_events_include_waiting_for_approval() -> None:
    from rollsafe.config.notify import WebhookNotify

    assert Kind.APPROVAL_WAITING in WebhookNotify(url="http://127.0.0.1:1/").events


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ("approve: {on_timeout: rollback}", "on_timeout needs a timeout"),
        ("approve: {timeout: 5m, on_timeout: later}", "on_timeout"),
        ("approve: {timeout: 0s}", "longer than 0s"),
        ("approve: {message: hi, ask: bob}", "ask"),
    ],
)
def test_a_bad_gate_is_refused_naming_the_line(tmp_path: Path, step: str, problem: str) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "version: 1\nservice: shop\n"
        'target: {type: process, root: /tmp/x, command: ["{python}"]}\n'
        f"steps:\n  - deploy: {{release: 1.1.0}}\n  - {step}\n"
    )
    with pytest.raises(PlanError) as raised:
        load_plan(plan)
    text = "\n".join(raised.value.problems)
    assert problem in text
    assert "plan.yaml:6" in text
