"""What the rollback ladder runs, what it costs, and whom it credits (real processes, fast).

- a backup that fails before any change ends the rollout failed, without a ladder;
- level 1 with no flags in the plan is skipped and says so, instead of verifying;
- a deploy that reverted itself is credited, not the level that changed nothing;
- verification judges guards with their ``for``: a fresh process's warm-up is no leak,
  a service failing all along is not recovered.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollsafe.config import load_plan
from rollsafe.config.guards import DEFAULT_GUARDS
from rollsafe.controller import Controller
from rollsafe.controller.verification import VerificationGuards
from rollsafe.report import build_incident
from rollsafe.store import RolloutState, SqliteStore
from rollsafe.targets import ProcessTarget
from tests.rollback.services import TARGET, install_releases


class Service:
    def __init__(self, tmp_path: Path, plan_text: str) -> None:
        self.plan_path = tmp_path / "plan.yaml"
        self.plan_path.write_text(TARGET + plan_text)
        install_releases(tmp_path / "root", "1.0.0", crashing="2.0.0")
        self.home = tmp_path / "home"
        plan = load_plan(self.plan_path)
        self.target = ProcessTarget(plan.target, service=plan.service, home=self.home)
        self.target.deploy("1.0.0")
        self.store = SqliteStore(self.home / "rollsafe.db")
        self.controller = Controller(self.store, self.home)

    def run(self) -> tuple[RolloutState, str, list[str], float]:
        rollout = self.controller.create(self.plan_path)
        started = time.monotonic()
        ended = self.controller.run(rollout.id)
        kinds = [entry.kind for entry in self.store.journal(rollout.id)]
        return ended.state, ended.reason, kinds, time.monotonic() - started


@pytest.fixture
def service(tmp_path: Path) -> Iterator[list[Service]]:
    made: list[Service] = []
    yield made
    for one in made:
        one.target.stop()
        one.store.close()


def make(service: list[Service], tmp_path: Path, plan_text: str) -> Service:
    service.append(Service(tmp_path, plan_text))
    return service[-1]


def test_a_backup_failing_before_any_change_fails_the_rollout_without_a_ladder(
    service: list[Service], tmp_path: Path
) -> None:
    one = make(
        service,
        tmp_path,
        "backups:\n  - {name: orders, type: sqlite, path: data/missing.db}\n"
        "rollback: {levels: [flags, release], verify: {for: 5s}}\n"
        "steps:\n  - backup:\n  - deploy: {release: 2.0.0}\n",
    )
    state, reason, kinds, _ = one.run()
    assert state is RolloutState.FAILED
    assert "missing.db does not exist" in reason
    assert "nothing was rolled back" in reason
    assert "rollback.started" not in kinds
    assert one.target.current_release() == "1.0.0"


def test_level_1_without_flags_is_skipped_and_the_self_revert_is_credited(
    service: list[Service], tmp_path: Path
) -> None:
    one = make(
        service,
        tmp_path,
        "rollback: {levels: [flags, release], verify: {for: 3s}}\n"
        "steps:\n  - deploy: {release: 2.0.0}\n",
    )
    state, reason, kinds, seconds = one.run()
    assert state is RolloutState.ROLLED_BACK, reason
    assert kinds.count("rollback.level_skipped") == 1
    assert kinds.count("rollback.level_ended") == 1  # level 2 only: one verification
    assert seconds < 3 * 2  # level 1 verified nothing: one verify.for in all, not two
    assert "recovered at level" not in reason
    assert "reverted itself" in reason, reason
    (rollout,) = one.store.list_rollouts()
    entries = one.store.journal(rollout.id)
    (skipped,) = [e.data for e in entries if e.kind == "rollback.level_skipped"]
    assert (skipped["level"], skipped["name"]) == (1, "flags")
    assert "no flags" in skipped["reason"]
    report = build_incident(entries)
    assert "reverted itself" in report["summary"]
    assert report["skipped_levels"][0]["name"] == "flags"


def test_a_self_reverted_deploy_is_not_credited_to_flags_off(
    service: list[Service], tmp_path: Path
) -> None:
    one = make(
        service,
        tmp_path,
        "flags:\n  - name: new-path\n"
        "rollback: {levels: [flags, release], verify: {for: 1s}}\n"
        "steps:\n  - deploy: {release: 2.0.0}\n",
    )
    state, reason, kinds, _ = one.run()
    assert state is RolloutState.ROLLED_BACK, reason
    assert kinds.count("rollback.level_ended") == 1  # flags off ran, and verified recovery
    assert "recovered at level 1" not in reason
    assert "reverted itself" in reason, reason


def memory_looks(seconds: int, mb_per_hour: float) -> list[tuple[float, list[dict[str, float]]]]:
    """One look per second of a healthy process whose memory grows at ``mb_per_hour``."""
    return [
        (
            float(t),
            [{"t": float(t), "arm": "stable", "requests": 100.0 * t, "errors": 0.0,
              "memory_bytes": 60e6 + mb_per_hour * 1e6 * t / 3600}],
        )
        for t in range(seconds + 1)
    ]  # fmt: skip


def test_a_fresh_process_warming_up_is_not_a_leak_over_a_short_verification() -> None:
    guards = VerificationGuards(DEFAULT_GUARDS, 10.0)
    for t, observations in memory_looks(10, 101):
        guards.update(t, observations, 0)
    assert guards.breaches() == []
    assert [g["guard"] for g in guards.not_judged] == ["memory-growth"]


def test_a_service_failing_for_the_whole_verification_is_not_recovered() -> None:
    guards = VerificationGuards(DEFAULT_GUARDS, 10.0)  # its error guards hold 300 s, 900 s
    for t in range(11):
        guards.update(
            float(t), [{"t": t, "arm": "stable", "requests": 100 * t, "errors": 50 * t}], 0
        )
    assert {b["guard"] for b in guards.breaches()} == {"error-rate-critical", "error-rate-major"}


def test_a_blip_shorter_than_a_guards_for_does_not_fail_verification() -> None:
    (critical, *_) = DEFAULT_GUARDS
    guard = critical.model_copy(update={"for_": 3.0, "window": 1.0})
    guards = VerificationGuards([guard], 6.0)
    for t in range(7):
        errors = 50 * t if t in (5, 6) else 0  # errors only over the last two looks
        guards.update(
            float(t), [{"t": t, "arm": "stable", "requests": 100 * t, "errors": errors}], 0
        )
    assert guards.breaches() == []


def test_stragglers_after_the_level_acted_are_not_evidence_of_failure() -> None:
    # Three errors counted just after the level acted (requests in flight on the bad path,
    # or a scrape that lands late), then none, at 5 requests/s: above 5% over the window
    # from the guard's first value to the last look, yet 3 errors are not a failing service.
    (critical, *_) = DEFAULT_GUARDS
    guard = critical.model_copy(update={"threshold": 0.05, "for_": 3.0, "window": 5.0})
    guards = VerificationGuards([guard], 6.0)
    for t in range(7):
        errors = min(t, 3)
        guards.update(float(t), [{"t": t, "arm": "stable", "requests": 5 * t, "errors": errors}], 0)
    assert guards.breaches() == []


def test_a_service_still_failing_at_a_low_rate_is_not_recovered() -> None:
    (critical, *_) = DEFAULT_GUARDS
    guard = critical.model_copy(update={"threshold": 0.05, "for_": 3.0, "window": 5.0})
    guards = VerificationGuards([guard], 6.0)
    for t in range(7):  # 25% errors at 20 requests/s, all along
        guards.update(float(t), [{"t": t, "arm": "stable", "requests": 20 * t, "errors": 5 * t}], 0)
    assert [b["guard"] for b in guards.breaches()] == [guard.name]
