"""The router's maintenance page and the front-door liveness check, with a real nginx."""

from __future__ import annotations

import httpx
import pytest

from rollsafe.routers import NginxRouter
from rollsafe.routers.liveness import front_door_problems
from tests.metrics.prometheus_server import free_port
from tests.routers.conftest import Upstreams

pytestmark = pytest.mark.slow


def get(router: NginxRouter) -> httpx.Response:
    return httpx.get(router.url + "/health", timeout=5)


def test_the_maintenance_page_answers_503_with_retry_after_until_the_next_split(
    router: NginxRouter, upstreams: Upstreams
) -> None:
    router.set_weights(upstreams.stable, upstreams.canary, 20)
    router.start()
    assert get(router).status_code == 200

    router.set_maintenance(7)
    router.set_maintenance(7)  # idempotent
    answer = get(router)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "7"
    assert "maintenance" in answer.text
    assert router.in_maintenance
    split = router.split
    assert split is not None
    assert split.canary_weight == 20  # the split is kept for when instances return

    router.stop()  # a router started again keeps showing the page
    router.start()
    assert get(router).status_code == 503

    router.set_weights(upstreams.stable, [], 0)
    assert get(router).status_code == 200
    assert not router.in_maintenance


def test_a_router_first_started_in_maintenance_never_says_no_split(router: NginxRouter) -> None:
    router.set_maintenance(5)
    router.start()
    answer = get(router)
    assert (answer.status_code, answer.headers.get("Retry-After")) == (503, "5")
    assert front_door_problems(router, "/health", 2.0) == []  # nothing is meant to serve


def test_front_door_problems_name_each_dead_upstream_and_a_router_that_does_not_answer(
    router: NginxRouter, upstreams: Upstreams
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    router.set_weights(upstreams.stable, upstreams.canary, 50)
    router.start()
    assert front_door_problems(router, "/health", 2.0) == []

    router.set_weights([upstreams.stable[0], dead], upstreams.canary, 50)
    (problem,) = front_door_problems(router, "/health", 2.0)
    assert problem.startswith(f"stable upstream {dead} is down")

    router.set_weights(upstreams.stable, [dead], 0)  # weight 0: nginx sends it nothing
    assert front_door_problems(router, "/health", 2.0) == []

    router.stop()
    (problem,) = front_door_problems(router, "/health", 2.0)
    assert problem.startswith(f"the front door {router.url}/health does not answer")
