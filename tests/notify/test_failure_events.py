"""Every failure type reaches a real loopback receiver from a process-free controller run:
a guard trip, a failed analysis, a rollback level that did not recover, a failed
pre-rollout step (Flagger #1663), a lost lease; and a dead receiver never holds a
rollout up beyond the channel's timeout. Fakes from rollsafe.testing stand in for the
service (tests/controller/rig.py); the store, the notifier threads and HTTP are real.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from typing import Any

from rollsafe.controller.adapters import build_notifiers
from rollsafe.controller.runner import Controller
from rollsafe.store import RolloutState, SqliteStore
from rollsafe.testing import ReplaySource, fake_adapters, steady
from tests.controller.rig import Rig
from tests.notify.receiver import Receiver, Reply

HEALTH_GUARD = "[{name: health, metric: health, threshold: 0, for: 0s, severity: critical}]"
OPT_IN = (
    "[guard.tripped, analysis.failed, step.failed, rollback.level_failed, rollout.failed,"
    " rollout.lease_lost, rollout.rolled_back, rollout.promoted]"
)


def notify(receiver: Receiver, events: str = OPT_IN, **options: str) -> str:
    extra = "".join(f", {key}: {value}" for key, value in options.items())
    return f"notify: [{{url: '{receiver.url}', events: {events}{extra}}}]\n"


def notifying_controller(rig: Rig, *, lease_ttl: float = 15.0) -> Controller:
    """The rig's fakes, but the plan's real notifiers (HTTP to the receiver)."""
    store = SqliteStore(rig.root / "rollsafe.db")
    rig.stores.append(store)
    adapters = replace(fake_adapters(rig.target, rig.source, rig.router), notifiers=build_notifiers)
    return Controller(store, rig.root / "home", adapters=adapters, lease_ttl=lease_ttl)


def events(receiver: Receiver) -> list[str]:
    return [body["event"] for body in receiver.bodies()]


def sent(receiver: Receiver, event: str) -> dict[str, Any]:
    (body,) = [b for b in receiver.bodies() if b["event"] == event]
    return dict(body)


def test_a_guard_trip_is_notified(rig: Rig, receiver: Receiver) -> None:
    _, rollout_id = rig.create(
        ["deploy", "promote"], watch="100ms", guards=HEALTH_GUARD, extra=notify(receiver)
    )
    rig.on_first("deploy", lambda: rig.target.break_health("1.1.0"))

    rollout = notifying_controller(rig).run(rollout_id)

    assert rollout.state is RolloutState.ROLLED_BACK
    assert events(receiver) == [
        "guard.tripped",
        "step.failed",
        "rollback.level_failed",  # flags off leaves the broken release serving: level 2 runs
        "rollout.rolled_back",
    ]
    tripped = sent(receiver, "guard.tripped")
    assert tripped["title"] == "shop: guard health tripped"
    assert tripped["rollout_id"] == rollout_id
    assert sent(receiver, "rollout.rolled_back")["severity"] == "warning"


def test_a_failed_analysis_is_notified(rig: Rig, receiver: Receiver) -> None:
    rig.source = ReplaySource(steady(canary_error_rate=0.2))
    _, rollout_id = rig.create(["deploy", "analysis", "promote"], extra=notify(receiver))

    rollout = notifying_controller(rig).run(rollout_id)

    assert rollout.state is RolloutState.ROLLED_BACK
    assert events(receiver) == ["analysis.failed", "step.failed", "rollout.rolled_back"]
    failed = sent(receiver, "analysis.failed")
    assert failed["title"] == "shop: analysis failed"
    assert failed["entry"]["kind"] == "analysis.verdict"
    assert "error" in failed["text"]


def test_a_rollback_level_that_does_not_recover_is_notified(rig: Rig, receiver: Receiver) -> None:
    _, rollout_id = rig.create(["flag", "deploy", "promote"], extra=notify(receiver))

    def bad_deploy() -> None:
        rig.target.break_health("1.1.0")  # flags off cannot help: level 1 fails, 2 recovers
        rig.stores[-1].request(rollout_id, "rollback", actor="test", reason="1.1.0 is bad")

    rig.on_first("deploy", bad_deploy)

    rollout = notifying_controller(rig).run(rollout_id)

    assert rollout.state is RolloutState.ROLLED_BACK
    assert "rollback.level_failed" in events(receiver)
    level = sent(receiver, "rollback.level_failed")
    assert level["title"] == "shop: rollback level 1 (flags) did not recover the service"
    assert level["entry"]["data"]["recovered"] is False
    assert events(receiver)[-1] == "rollout.rolled_back"


def test_a_failed_pre_rollout_step_is_notified(rig: Rig, receiver: Receiver) -> None:
    # Flagger #1663: a check failing before anything changed went unannounced.
    _, rollout_id = rig.create(["backup", "deploy", "promote"], extra=notify(receiver))
    shutil.rmtree(rig.root / "uploads")  # the backup source is gone: the backup step fails

    rollout = notifying_controller(rig).run(rollout_id)

    assert rollout.state is RolloutState.FAILED
    assert events(receiver) == ["step.failed", "rollout.failed"]
    assert sent(receiver, "step.failed")["title"] == "shop: step 0 (backup) failed"
    assert sent(receiver, "rollout.failed")["severity"] == "failure"


def test_waiting_for_approval_is_notified(rig: Rig, receiver: Receiver) -> None:
    step = "approve: {timeout: 100ms, on_timeout: continue, message: 'Look at the canary'}"
    _, rollout_id = rig.create(
        ["deploy", step, "promote"],
        extra=notify(receiver, "[approval.waiting, approval.timed_out]"),
    )

    rollout = notifying_controller(rig).run(rollout_id)

    assert rollout.state is RolloutState.PROMOTED
    assert events(receiver) == ["approval.waiting", "approval.timed_out"]
    waiting = sent(receiver, "approval.waiting")
    assert waiting["title"] == "shop: waiting for approval"
    assert waiting["text"].startswith("Look at the canary Approve with 'rollsafe rollout approve")
    assert waiting["fields"]["Then"] == "continue"


def test_a_lost_lease_is_journaled_and_notified(rig: Rig, receiver: Receiver) -> None:
    _, rollout_id = rig.create(
        ["deploy", "pause: {duration: 400ms}", "promote"], extra=notify(receiver)
    )
    controller = notifying_controller(rig, lease_ttl=0.15)
    rig.on_first(
        "deploy",
        lambda: rig.stores[-1].acquire_lease(
            rollout_id, "other-host:1", 30, take_over_from=controller.owner
        ),
    )

    controller.run(rollout_id)

    (lost,) = rig.journaled(rollout_id, "rollout.lease_lost")
    assert lost["owner"] == controller.owner
    assert lost["holder"] == "other-host:1"
    notified = sent(receiver, "rollout.lease_lost")
    assert notified["title"] == "shop: the controller lost its lease"
    assert notified["fields"]["Now held by"] == "other-host:1"


def test_a_dead_receiver_delays_a_rollout_by_at_most_the_timeout(
    rig: Rig, receiver: Receiver
) -> None:
    steps = ["deploy", "promote"]
    _, quiet_id = rig.create(steps, guards=HEALTH_GUARD)
    started = time.monotonic()
    assert notifying_controller(rig).run(quiet_id).state is RolloutState.PROMOTED
    unnotified = time.monotonic() - started

    receiver.default = Reply(204, delay=5.0)  # accepts, then never answers in time
    rig.target.deploy("1.0.0")
    _, rollout_id = rig.create(
        steps, guards=HEALTH_GUARD, extra=notify(receiver, timeout="300ms", retries="5")
    )
    started = time.monotonic()
    rollout = notifying_controller(rig).run(rollout_id)
    notified = time.monotonic() - started

    assert rollout.state is RolloutState.PROMOTED
    assert notified < unnotified + 0.3 + 0.4  # the timeout, plus scheduling slack
    assert receiver.received  # it was tried
    failures = rig.journaled(rollout_id, "notify.failed")
    assert failures
    assert failures[-1]["channel"] == "notify[0] webhook"
    assert failures[-1]["undelivered"] == ["rollout.promoted"]
