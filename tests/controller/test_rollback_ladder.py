"""The rollback ladder on fakes: escalation level by level, and a controller that dies
after each journaled level (or step) replaced by a new one on the same SQLite store,
which goes on from there without running a finished level or step again.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rollsafe.errors import TargetError
from rollsafe.store import RolloutState
from tests.controller.rig import Crash, Rig

STEPS = ["backup", "flag", "deploy", "promote"]
LOGO = "before the rollout"


def bad_deploy(
    rig: Rig, *broken: str, rollout_id: str, then: Callable[[], None] | None = None
) -> None:
    """The deploy breaks ``broken`` releases (health), changes the data, asks a rollback."""

    def act() -> None:
        for release in broken:
            rig.target.break_health(release)
        (rig.root / "uploads" / "logo.txt").write_text("written by 1.1.0")
        rig.stores[-1].request(rollout_id, "rollback", actor="test", reason="1.1.0 is bad")
        if then is not None:
            then()

    rig.on_first("deploy", act)


def levels(rig: Rig, rollout_id: str) -> list[tuple[int, bool]]:
    """(level, recovered) of each level that ended, in order."""
    ended = rig.journaled(rollout_id, "rollback.level_ended")
    return [(entry["level"], entry["recovered"]) for entry in ended]


@pytest.mark.parametrize(
    ("broken", "state", "ladder", "release"),
    [
        ((), RolloutState.ROLLED_BACK, [(1, True)], "1.1.0"),
        (("1.1.0",), RolloutState.ROLLED_BACK, [(1, False), (2, True)], "1.0.0"),
        (
            ("1.1.0", "1.0.0"),
            RolloutState.FAILED,
            [(1, False), (2, False), (3, False)],
            "1.0.0",
        ),
    ],
    ids=["flags-off-suffices", "previous-release", "nothing-recovers"],
)
def test_each_level_escalates_to_the_next_until_one_recovers(
    rig: Rig,
    broken: tuple[str, ...],
    state: RolloutState,
    ladder: list[tuple[int, bool]],
    release: str,
) -> None:
    controller, rollout_id = rig.create(STEPS)
    bad_deploy(rig, *broken, rollout_id=rollout_id)

    rollout = controller.run(rollout_id)

    assert rollout.state is state
    assert levels(rig, rollout_id) == ladder
    assert rig.target.current_release() == release
    assert rig.flag_rollout()["enabled"] is False
    restored = len(ladder) == 3
    logo = (rig.root / "uploads" / "logo.txt").read_text()
    assert logo == (LOGO if restored else "written by 1.1.0")
    maintenance = [on for (on,) in rig.target.called("set_maintenance")]
    assert maintenance == ([True, False] if restored else [])


def test_a_restore_that_recovers_ends_the_ladder_at_level_3(rig: Rig) -> None:
    controller, rollout_id = rig.create(STEPS)
    # The data was what broke both releases: once restored, 1.0.0 is healthy again.
    bad_deploy(rig, "1.1.0", "1.0.0", rollout_id=rollout_id, then=lambda: _heal_on_stop(rig))

    rollout = controller.run(rollout_id)

    assert rollout.state is RolloutState.ROLLED_BACK
    assert levels(rig, rollout_id) == [(1, False), (2, False), (3, True)]
    assert (rig.root / "uploads" / "logo.txt").read_text() == LOGO
    assert rig.target.maintenance is False
    assert [on for (on,) in rig.target.called("set_maintenance")] == [True, False]


def _heal_on_stop(rig: Rig) -> None:
    def hook(name: str, arguments: tuple[object, ...]) -> None:
        if name == "stop":
            rig.target.heal()

    rig.target.on_call = hook


def test_a_level_that_cannot_act_escalates(rig: Rig) -> None:
    controller, rollout_id = rig.create(STEPS)
    refused = TargetError("release 1.0.0 is gone")
    bad_deploy(rig, "1.1.0", rollout_id=rollout_id, then=lambda: rig.target.fail("deploy", refused))

    rollout = controller.run(rollout_id)

    assert rollout.state is RolloutState.FAILED  # the restore deploys 1.0.0 too
    ended = rig.journaled(rollout_id, "rollback.level_ended")
    assert [entry["applied"] for entry in ended] == [True, False, False]
    assert "release 1.0.0 is gone" in ended[1]["result"]["error"]


# -- a controller dying after each journaled level ------------------------------


@pytest.mark.parametrize(
    ("dies_in", "broken", "before", "after"),
    [
        ("deploy", ("1.1.0",), [(1, False)], [(1, False), (2, True)]),
        ("set_maintenance", ("1.1.0", "1.0.0"), [(1, False), (2, False)], None),
    ],
    ids=["after-level-1", "after-level-2"],
)
def test_a_new_controller_resumes_after_the_last_level_that_ended(
    rig: Rig,
    dies_in: str,
    broken: tuple[str, ...],
    before: list[tuple[int, bool]],
    after: list[tuple[int, bool]] | None,
) -> None:
    controller, rollout_id = rig.create(STEPS)
    # Dies in the next level's action: the level before it is journaled as ended.
    bad_deploy(rig, *broken, rollout_id=rollout_id, then=lambda: rig.target.fail(dies_in, Crash()))

    with pytest.raises(Crash):
        controller.run(rollout_id)
    assert levels(rig, rollout_id) == before
    assert controller.store.get_rollout(rollout_id).state is RolloutState.ROLLING_BACK

    rig.target.repair()
    _heal_on_stop(rig)
    deploys = len(rig.target.called("deploy"))
    flag_versions = rig.stores[-1].get_flag("checkout").version
    rollout = rig.controller().run(rollout_id)

    assert rollout.state is RolloutState.ROLLED_BACK
    expected = after or [*before, (3, True)]
    assert levels(rig, rollout_id) == expected
    # Level 1 did not run again: the flags were not written a second time.
    assert rig.stores[-1].get_flag("checkout").version == flag_versions
    assert len(rig.target.called("deploy")) == deploys + 1  # level 2's, or the restore's
    started = [entry["level"] for entry in rig.journaled(rollout_id, "rollback.level_started")]
    assert started.count(1) == 1


@pytest.mark.parametrize(
    ("dies_in", "calls"),
    [
        # Dies starting the canary: the canary step runs again.
        ("deploy_canary", ["deploy_canary", "deploy_canary", "deploy", "stop_canary"]),
        # Dies in the deploy step: the canary step (ended) does not run again.
        ("deploy", ["deploy_canary", "deploy", "deploy", "stop_canary"]),
        # Dies after the deploy, stopping the canary: the step runs again, and its
        # deploy finds the release live (idempotent) before the canary is stopped.
        ("stop_canary", ["deploy_canary", "deploy", "stop_canary", "deploy", "stop_canary"]),
    ],
)
def test_a_new_controller_resumes_after_the_last_step_that_ended(
    rig: Rig, dies_in: str, calls: list[str]
) -> None:
    controller, rollout_id = rig.create(["canary", "flag", "deploy", "promote"])
    rig.target.fail(dies_in, Crash())

    with pytest.raises(Crash):
        controller.run(rollout_id)
    rig.target.repair()
    rollout = rig.controller().run(rollout_id)

    assert rollout.state is RolloutState.PROMOTED
    steps = {"deploy_canary", "deploy", "stop_canary"}
    assert [name for name, _ in rig.target.calls if name in steps] == calls
    assert rig.target.current_release() == "1.1.0"
    assert rig.target.canary_release() is None
    # The flag step's change is journaled once, whether it ended before the crash or after.
    assert len(rig.journaled(rollout_id, "flag.changed")) == 2  # declared off, then 50%
