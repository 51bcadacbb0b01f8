"""Canaries by release through a real nginx: two releases side by side, weights, promotion,
and a rollback that takes the canary out; with the real shop under load on loopback."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from rollsafe.config import load_plan
from rollsafe.controller import Controller
from rollsafe.controller.adapters import build_traffic
from rollsafe.controller.traffic import Traffic
from rollsafe.demo.load import LoadStats, generate_load
from rollsafe.errors import PlanError
from rollsafe.store import RolloutState, SqliteStore
from rollsafe.support.http import http_client
from tests.controller.conftest import Shop, with_steps

pytestmark = pytest.mark.slow

ROUTED = """\
router:
  type: nginx
steps:
  - backup:
  - canary: {release: 1.1.0, weight: 25}
  - analysis: {duration: 8s, arms: release}
  - pause:
  - deploy: {release: 1.1.0}
  - pause:
  - promote:
"""


@contextmanager
def load_through(url: str, rate: float = 60.0) -> Iterator[Callable[[], LoadStats]]:
    """The demo's load generator, aimed at ``url`` in a thread, until the block ends."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    result: list[LoadStats] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        stats = generate_load(lambda: [url], rate=rate, checkout_share=0.6, stop=stop, seed=3)
        result.append(loop.run_until_complete(stats))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield lambda: result[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=15)
        loop.close()


def releases_served(url: str, requests: int) -> Counter[str]:
    """Which release answered each of ``requests`` health checks sent through the router."""

    def one(_: int) -> str:
        # A new client (and connection) per request, as before; http_client's shared TLS
        # context makes that ~1 ms instead of ~50 ms of CPU (2000 of them held the GIL).
        with http_client(timeout=5) as client:
            return str(client.get(f"{url}/health").json()["release"])

    with ThreadPoolExecutor(8) as pool:
        return Counter(pool.map(one, range(requests)))


@pytest.fixture
def routed(shop: Shop) -> Iterator[tuple[Shop, Traffic]]:
    """The shop behind the plan's nginx (started here, as a team would before rollouts)."""
    shop.plan_path.write_text(with_steps(shop.plan_path.read_text(), ROUTED))
    shop.plan = load_plan(shop.plan_path)
    traffic = build_traffic(shop.plan, shop.home, shop.target)
    assert traffic is not None
    try:
        traffic.sync()
        yield shop, traffic
    finally:
        traffic.router.stop()


def test_a_canary_release_gets_its_weight_then_is_promoted_without_a_failed_request(
    routed: tuple[Shop, Traffic],
) -> None:
    shop, traffic = routed
    url = traffic.router.url
    store = SqliteStore(shop.home / "rollsafe.db")
    controller = Controller(store, shop.home)
    try:
        with load_through(url) as load:
            rollout = controller.create(shop.plan_path, actor="test")
            rollout = controller.run(rollout.id)
            assert rollout.state is RolloutState.PAUSED, rollout.reason

            (canary,) = shop.target.canary_instances()
            assert canary.release == "1.1.0"
            assert {i.release for i in shop.target.stable_instances()} == {"1.0.0"}
            served = releases_served(url, 2000)
            assert abs(served["1.1.0"] / 2000 * 100 - 25) <= 3, served
            (verdict,) = [e.data for e in store.journal(rollout.id) if e.kind == "analysis.verdict"]
            assert verdict["verdict"]["verdict"] == "pass"
            # The judge compared the releases: both arms saw checkouts.
            looks = [e.data for e in store.journal(rollout.id) if e.kind == "analysis.observation"]
            arms = {o["arm"] for look in looks for o in look["observations"] if o["requests"]}
            assert arms == {"canary", "baseline"}

            rollout = controller.run(rollout.id, resume=True)  # deploy 1.1.0, then pause
            assert rollout.state is RolloutState.PAUSED, rollout.reason
            assert shop.target.canary_instances() == []
            assert {i.release for i in shop.target.instances()} == {"1.1.0"}
            assert releases_served(url, 200) == Counter({"1.1.0": 200})

            rollout = controller.run(rollout.id, resume=True)
            assert rollout.state is RolloutState.PROMOTED, rollout.reason
        stats = load()
        assert stats.sent > 500
        # Every request through nginx got an answer while instances moved under it.
        assert stats.errors == 0, stats.to_dict()
        assert stats.connection_failures == 0, stats.to_dict()
        assert store.verify_journal().ok
    finally:
        store.close()


@pytest.mark.parametrize("how", ["abort", "level 1 by hand"])
def test_a_rollback_takes_the_canary_out(routed: tuple[Shop, Traffic], how: str) -> None:
    shop, traffic = routed
    url = traffic.router.url
    store = SqliteStore(shop.home / "rollsafe.db")
    controller = Controller(store, shop.home)
    try:
        rollout = controller.create(shop.plan_path, actor="test")
        with load_through(url):
            rollout = controller.run(rollout.id)
            assert rollout.state is RolloutState.PAUSED, rollout.reason
            assert traffic.weight == 25
            if how == "abort":
                rollout = controller.abort(rollout.id)
            else:
                rollout = controller.roll_back_to(rollout.id, 1, actor="test")
        assert shop.target.canary_instances() == []
        assert traffic.weight == 0
        assert releases_served(url, 200) == Counter({"1.0.0": 200})
        journal = store.journal(rollout.id)
        levels = [e.data for e in journal if e.kind == "rollback.level_ended"]
        removed = [e.data for e in journal if e.kind == "rollback.canary_removed"]
        if how == "abort":
            # An abort undoes flags and release: level 2 takes the canary out.
            assert rollout.state is RolloutState.ABORTED
            assert [level["name"] for level in levels] == ["flags", "release"]
            assert levels[1]["result"]["canary_stopped"] == "1.1.0"
            assert removed == []
        else:
            # Flags off recovered (nothing was wrong), and the canary still went.
            assert rollout.state is RolloutState.ROLLED_BACK
            assert [(level["name"], level["recovered"]) for level in levels] == [("flags", True)]
            assert removed == [{"release": "1.1.0"}]
    finally:
        store.close()


@pytest.mark.parametrize(
    ("steps", "field", "message"),
    [
        (
            "steps:\n  - canary: {release: 1.1.0, weight: 10}\n",
            "steps[0].canary",
            "needs a process target and a router",
        ),
        (
            "router: {type: nginx}\nsteps:\n  - analysis: {duration: 5s, arms: release}\n",
            "steps[0].analysis.arms",
            "put a canary step before",
        ),
    ],
)
def test_canary_steps_without_their_router_or_canary_are_refused_at_load(
    tmp_path: Path, shop: Shop, steps: str, field: str, message: str
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(with_steps(shop.plan_path.read_text(), steps))
    with pytest.raises(PlanError) as raised:
        load_plan(plan)
    text = str(raised.value)
    assert text.startswith(f"{plan}:"), text
    assert field in text, text
    assert message in text, text
