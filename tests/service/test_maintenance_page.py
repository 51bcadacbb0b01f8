"""During an L3 restore the instances are stopped: nginx itself answers a clear 503 with
Retry-After (a service that ignores rollsafe's maintenance marker cannot), never a 502, until
the previous release is healthy again."""

from __future__ import annotations

import pytest

from rollsafe.controller import Controller
from rollsafe.store import RolloutState
from tests.service.conftest import FrontDoorClient, Service

pytestmark = pytest.mark.slow


def test_requests_through_the_front_door_during_l3_get_503_with_retry_after_never_502(
    service: Service,
) -> None:
    first = service.plan("  - deploy: {release: 1.0.0}\n  - promote:\n", router=True)
    assert service.run(first).state is RolloutState.PROMOTED
    steps = "  - backup:\n  - deploy: {release: 1.1.0}\n  - promote:\n"
    rollout = service.run(service.plan(steps, router=True))
    assert rollout.state is RolloutState.PROMOTED, rollout.reason
    router = service.router()

    # /health is what the shop answers even in its own maintenance mode: every 503 is nginx's.
    with FrontDoorClient(router.url) as users:
        users.wait_for(10)
        back = Controller(service.store, service.home).roll_back_to(rollout.id, 3, actor="test")
        users.wait_for(10)
    assert back.state is RolloutState.ROLLED_BACK, back.reason
    levels = [e.data for e in service.store.journal(rollout.id) if e.kind == "rollback.level_ended"]
    assert [(level["name"], level["applied"]) for level in levels][-1] == ("restore", True)

    statuses = users.statuses()
    assert statuses[502] == 0, statuses
    assert statuses[0] == 0, statuses  # never a refused connection either
    assert set(statuses) == {200, 503}, statuses
    unavailable = [answer for answer in users.answers if answer.status == 503]
    assert all(answer.retry_after == "5" for answer in unavailable), unavailable[:3]
    assert all("maintenance" in answer.body for answer in unavailable), unavailable[:3]
    # Served until the restore, the maintenance page during it, the previous release after.
    first_503 = users.answers.index(unavailable[0])
    last_503 = users.answers.index(unavailable[-1])
    assert {a.status for a in users.answers[first_503 : last_503 + 1]} == {503}
    assert users.answers[-1].release == "1.0.0"
    assert not router.in_maintenance
