"""nginx follows the shop's instances whichever plan moves them, and never routes to a stopped
one: a plan without ``router:`` after one with it, the plan with it again, a rollback by hand."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from rollsafe.config import load_plan
from rollsafe.controller import Controller
from rollsafe.controller.adapters import build_traffic
from rollsafe.routers.liveness import front_door_problems
from rollsafe.store import RolloutState
from tests.service.conftest import FrontDoorClient, Service, live_addresses

pytestmark = pytest.mark.slow


def assert_fronts_live_instances(service: Service) -> None:
    router = service.router()
    split = router.split
    assert split is not None
    assert {*split.stable, *split.canary} == live_addresses(service.target)
    assert front_door_problems(router, "/health", 2.0) == []


def test_nginx_never_routes_to_a_stopped_instance_after_any_plan_sequence(
    service: Service,
) -> None:
    routed = service.plan("  - deploy: {release: 1.0.0}\n  - promote:\n", router=True)
    rollout = service.run(routed)
    assert rollout.state is RolloutState.PROMOTED, rollout.reason
    assert_fronts_live_instances(service)
    url = service.router().url

    with FrontDoorClient(url) as users:
        # A plan without router: moves every instance to new ports.
        bare = service.plan(
            "  - backup:\n  - deploy: {release: 1.1.0}\n  - promote:\n", router=False
        )
        moved = service.run(bare)
        assert moved.state is RolloutState.PROMOTED, moved.reason
        assert_fronts_live_instances(service)
        assert service.router().url == url  # the front address stays

        # The plan with the router again: its first deploy is a no-op, the router stays
        # right; then deploys back and forth, which the front-door guard watches trip-free.
        steps = "".join(f"  - deploy: {{release: {r}}}\n" for r in ["1.1.0", "1.0.0", "1.1.0"])
        again = service.run(service.plan(steps + "  - promote:\n", router=True))
        assert again.state is RolloutState.PROMOTED, again.reason
        assert_fronts_live_instances(service)

        # A rollback by hand of the plan without router: back to 1.0.0, and nginx follows.
        back = Controller(service.store, service.home).roll_back_to(moved.id, 2, actor="test")
        assert back.state is RolloutState.ROLLED_BACK, back.reason
        assert {i.release for i in service.target.instances()} == {"1.0.0"}
        assert_fronts_live_instances(service)
        users.wait_for(20)

    statuses = users.statuses()
    assert set(statuses) == {200}, statuses  # no 502, no connection refused, ever
    releases = [answer.release for answer in users.answers]
    assert releases[0] == "1.0.0"
    assert "1.1.0" in releases
    assert releases[-1] == "1.0.0"


def test_the_front_door_comes_up_with_the_rollout_not_at_its_first_canary_step(
    service: Service,
) -> None:
    service.target.deploy("1.0.0")  # running already, with no router in front
    steps = "  - pause: {duration: 3s}\n  - canary: {release: 1.1.0, weight: 50}\n  - promote:\n"
    plan = service.plan(steps, router=True)
    controller = Controller(service.store, service.home)
    rollout = controller.create(plan, actor="test")
    ended: list[RolloutState] = []
    driver = threading.Thread(target=lambda: ended.append(controller.run(rollout.id).state))
    driver.start()
    try:
        service.wait_running(rollout.id)
        # During the pause, before any canary step, the front door serves the stable release.
        answer = httpx.get(service.router().url + "/health", timeout=5)
        assert (answer.status_code, answer.json()["release"]) == (200, "1.0.0")
    finally:
        driver.join(timeout=60)
    assert ended == [RolloutState.PROMOTED]
    assert_fronts_live_instances(service)


def test_a_router_recorded_in_another_home_is_stopped_when_a_plan_brings_its_own(
    service: Service, tmp_path: Path
) -> None:
    plan = service.plan("  - deploy: {release: 1.0.0}\n  - promote:\n", router=True)
    assert service.run(plan).state is RolloutState.PROMOTED
    first = service.router()
    assert first.running()

    elsewhere = tmp_path / "other-home"
    traffic = build_traffic(load_plan(plan), elsewhere, service.target, service.store)
    assert traffic is not None
    second = service.router()
    assert second.home == elsewhere / "routers" / "shop"
    try:
        assert not first.running()  # one router per set of instances, never a stale second
        assert second.running()
        assert_fronts_live_instances(service)
    finally:
        second.stop()
