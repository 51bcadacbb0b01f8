"""Instances killed under the router trip the critical front-door guard within 5 s, with no
metric source at all: the guard looks where users are."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from rollsafe.controller import Controller
from rollsafe.report import write_incident
from rollsafe.store import Rollout, RolloutState
from tests.service.conftest import Service

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("killed", ["one instance", "every instance"])
def test_instances_killed_under_the_router_trip_the_front_door_guard_within_5s(
    service: Service, killed: str
) -> None:
    first = service.plan("  - deploy: {release: 1.0.0}\n  - promote:\n", router=True)
    assert service.run(first).state is RolloutState.PROMOTED
    # The plan has no router: the recorded one is watched all the same.
    waiting = service.plan("  - pause: {duration: 60s}\n  - promote:\n", router=False)
    controller = Controller(service.store, service.home)
    rollout = controller.create(waiting, actor="test")
    ended: list[Rollout] = []
    driver = threading.Thread(target=lambda: ended.append(controller.run(rollout.id)))
    driver.start()
    try:
        service.wait_running(rollout.id)
        time.sleep(1.5)  # a few quiet looks first: nothing trips while all is well
        assert not [e for e in service.store.journal(rollout.id) if e.kind == "guard.tripped"]
        victims = service.target.instances()
        if killed == "one instance":
            victims = victims[:1]
        killed_at = time.time()
        for victim in victims:
            os.killpg(victim.pid, signal.SIGKILL)
        driver.join(timeout=90)
        assert not driver.is_alive()
    finally:
        if driver.is_alive():  # a failed assertion above: do not leave the pause running
            service.store.request(rollout.id, "abort", actor="test")
            driver.join(timeout=90)

    (rolled,) = ended
    assert rolled.state is not RolloutState.PROMOTED, rolled.reason
    assert "guard front-door (critical) tripped" in rolled.reason
    (trip,) = [e for e in service.store.journal(rollout.id) if e.kind == "guard.tripped"]
    assert trip.data["guard"] == "front-door"
    assert trip.data["severity"] == "critical"
    down = [f"127.0.0.1:{victim.port}" for victim in victims]
    assert all(any(address in p for p in trip.data["problems"]) for address in down), trip.data
    # The incident report names the front door as the trigger.
    markdown = write_incident(service.home / "report", service.store.journal(rollout.id))
    assert "front-door" in markdown.read_text()
    print(f"front-door guard tripped {trip.ts - killed_at:.2f}s after {killed} was killed")
    assert trip.ts - killed_at <= 5.0, f"tripped {trip.ts - killed_at:.1f}s after the kill"
