"""A canary analysed from router metrics alone: the plan names no metrics, nginx's records
feed the judge, release against release; with the real shop under load on loopback."""

from __future__ import annotations

import re

import pytest

from rollsafe.config import RouterMetrics, load_plan
from rollsafe.controller import Controller
from rollsafe.controller.adapters import build_traffic
from rollsafe.store import RolloutState, SqliteStore
from tests.controller.conftest import Shop, with_steps
from tests.controller.test_release_canary import load_through

pytestmark = pytest.mark.slow

ROUTED = """\
router:
  type: nginx
steps:
  - canary: {release: 1.1.0, weight: 50}
  - analysis: {duration: 30s, arms: release}
  - pause:
"""


def test_a_canary_release_passes_on_what_the_router_saw(shop: Shop) -> None:
    text = with_steps(shop.plan_path.read_text(), ROUTED)
    text = re.sub(r"^metrics:\n(?:  .*\n)+", "", text, flags=re.MULTILINE)
    shop.plan_path.write_text(text)
    plan = load_plan(shop.plan_path)
    assert plan.metrics == RouterMetrics()  # no metrics in the plan: the router's
    traffic = build_traffic(plan, shop.home, shop.target)
    assert traffic is not None
    store = SqliteStore(shop.home / "rollsafe.db")
    try:
        traffic.sync()
        controller = Controller(store, shop.home)
        with load_through(traffic.router.url, rate=80) as load:
            rollout = controller.create(shop.plan_path, actor="test")
            rollout = controller.run(rollout.id)
        assert rollout.state is RolloutState.PAUSED, rollout.reason
        journal = store.journal(rollout.id)
        (verdict,) = [e.data for e in journal if e.kind == "analysis.verdict"]
        assert verdict["verdict"]["verdict"] == "pass", verdict
        last = [e.data for e in journal if e.kind == "analysis.observation"][-1]
        arms = {o["arm"]: o for o in last["observations"]}
        assert arms["canary"]["requests"] > 30
        assert arms["baseline"]["requests"] > 30
        assert "latency_seconds_bucket" in arms["canary"]
        # Everything the load sent went through nginx, and the router recorded each.
        records = traffic.router.records_log.read_text().splitlines()
        assert len(records) >= load().sent * 0.99
    finally:
        traffic.router.stop()
        store.close()
