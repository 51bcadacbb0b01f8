"""rollsafe.testing as a user meets it: the example of docs/architecture.md, and the
fakes' own promises (replay files, recorded calls, broken health, splits)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rollsafe.controller.runner import Controller
from rollsafe.errors import MetricsError, TargetError
from rollsafe.routers import RouterError
from rollsafe.store.sqlite import SqliteStore
from rollsafe.testing import (
    CapturingNotifier,
    FakeRouter,
    FakeTarget,
    ReplaySource,
    fake_adapters,
    steady,
)

PLAN = """\
version: 1
service: shop
target: {type: process, root: ./shop, command: ["{python}", "shop.py", "{port}"]}
router: {}
analysis: {interval: 10ms}
guards: []
rollback: {levels: [release], verify: {for: 0s}}
steps:
  - canary: {release: 1.1.0, weight: 10}
  - analysis: {duration: 50ms, arms: release}
  - deploy: {release: 1.1.0}
  - promote:
"""


def write_recording(path: Path, canary_error_rate: float) -> Path:
    lines = steady(canary_error_rate=canary_error_rate)
    path.write_text("".join(json.dumps(observation) + "\n" for observation in lines))
    return path


@pytest.mark.parametrize(("error_rate", "state"), [(0.0, "promoted"), (0.2, "rolled_back")])
def test_the_documented_example(tmp_path: Path, error_rate: float, state: str) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    recording = write_recording(tmp_path / "canary.jsonl", error_rate)
    # As in docs/architecture.md, "Testing your plan with rollsafe.testing":
    target = FakeTarget("1.0.0")
    adapters = fake_adapters(target, ReplaySource(recording), FakeRouter())
    store = SqliteStore(tmp_path / "rollsafe.db")
    controller = Controller(store, tmp_path, adapters=adapters)
    rollout = controller.run(controller.create(plan).id)
    store.close()

    assert rollout.state == state
    assert target.current_release() == ("1.1.0" if state == "promoted" else "1.0.0")
    assert target.canary_release() is None


def test_a_replay_file_with_a_bad_line_names_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"t": 1, "arm": "canary", "requests": 5}\n{not json\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not JSON"):
        ReplaySource(path)


def test_a_replay_source_steps_through_looks_and_can_fail() -> None:
    source = ReplaySource(steady(2))
    first, second, third = source.observe(0.0), source.observe(0.1), source.observe(0.2)
    assert [o["requests"] for o in first] == [500.0, 500.0]
    assert second == third  # used up: counters stop moving
    fresh = source.fresh()
    assert fresh.observe(5.0) == first
    source.fail("scrape timed out")
    with pytest.raises(MetricsError, match="scrape timed out"):
        source.observe(0.3)
    with pytest.raises(MetricsError, match="no observations"):
        ReplaySource([]).observe(0.0)


def test_the_fake_target_records_calls_and_breaks_on_demand() -> None:
    target = FakeTarget("1.0.0", releases=["1.0.0", "1.1.0"])
    assert target.deploy("1.1.0") is True
    assert target.deploy("1.1.0") is False
    assert target.previous_release() == "1.0.0"
    target.break_health()
    report = target.check_health()
    assert not report.healthy
    assert report.healthy_count == 0
    target.heal()
    assert target.check_health().healthy
    with pytest.raises(TargetError, match="not installed"):
        target.deploy("2.0.0")
    target.fail("stop")
    with pytest.raises(TargetError):
        target.stop()
    assert [name for name, _ in target.calls] == [
        "deploy",
        "deploy",
        "check_health",
        "check_health",
        "deploy",
        "stop",
    ]


def test_the_fake_router_records_splits_and_refuses_on_demand() -> None:
    router = FakeRouter()
    router.set_weights(["127.0.0.1:8001"], ["127.0.0.1:8002"], 10)
    router.set_maintenance(5)
    assert router.in_maintenance
    router.set_weights(["127.0.0.1:8001"], [], 0)
    assert router.weights == [10, 0]
    assert router.maintenance == [5]
    assert not router.in_maintenance
    router.fail()
    with pytest.raises(RouterError):
        router.set_weights(["127.0.0.1:8001"], [], 0)
    with pytest.raises(RouterError):
        _ = router.url  # not started


def test_capturing_notifiers_hear_a_rollout(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    notifier = CapturingNotifier({"rollout.running", "analysis.verdict", "rollback.finished"})
    source = ReplaySource(steady(canary_error_rate=0.2))
    adapters = fake_adapters(FakeTarget("1.0.0"), source, FakeRouter(), [notifier])
    store = SqliteStore(tmp_path / "rollsafe.db")
    controller = Controller(store, tmp_path, adapters=adapters)
    controller.run(controller.create(plan).id)
    store.close()

    assert notifier.closed
    assert notifier.kinds == ["rollout.running", "analysis.verdict", "rollback.finished"]
