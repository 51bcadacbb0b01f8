"""Rollback drills on fakes: levels run and timed against targets, refusals that change
nothing, and a plan's ``drill.require_within`` holding a rollout back.

No process and no socket: rollsafe.testing's target and router over a real SQLite
store (tests/controller/rig.py). The real shop is drilled in test_drill_shop.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rollsafe.controller.daemon import unowned
from rollsafe.controller.drill_records import DRILL_HEADER, last_drill, require_fresh_drill
from rollsafe.controller.drills import create_drill, drill_plan_text, run_drill
from rollsafe.errors import ConflictError, DrillRequiredError, PlanError
from rollsafe.journal.kinds import Kind
from rollsafe.report.drills import render_drill
from rollsafe.store import RolloutState
from tests.controller.rig import PLAN, STEP, Rig

DAY = 86400.0


@pytest.fixture
def rig(tmp_path: Path, template: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path, template=template)
    (tmp_path / "root" / "releases" / "1.1.0").mkdir(parents=True)
    rig.controller()
    try:
        yield rig
    finally:
        rig.close()


def plan(rig: Rig, drill: str = "{}", *, backups: bool = True) -> Path:
    """The rig's plan (flag, files backup, deploy and promote) with a ``drill:`` section."""
    steps = ["deploy", "flag", "analysis", "pause", "promote"]
    text = PLAN.format(
        root=rig.root,
        steps="\n".join(f"  - {STEP[step]}" for step in steps),
        watch="0s",
        levels="[flags, release, restore]",
        guards="[]",
    )
    if not backups:
        text = text.replace(
            f"backups: [{{type: files, name: uploads, path: {rig.root}/uploads}}]\n", ""
        )
    path = rig.root / "plan.yaml"
    path.write_text(f"{text}drill: {drill}\n")
    return path


def drill(rig: Rig, path: Path, levels: list[int] | None = None) -> dict[str, Any]:
    controller = rig.controller()
    return run_drill(controller, create_drill(controller, path, levels)).result


def test_a_drill_deploys_the_candidate_and_runs_every_level_in_turn(rig: Rig) -> None:
    (rig.root / "uploads" / "logo.txt").write_text("before the drill")
    rig.target.on_call = lambda name, args: (
        (rig.root / "uploads" / "logo.txt").write_text("written by 1.1.0")
        if name == "deploy" and args == ("1.1.0",)
        else None
    )

    result = drill(rig, plan(rig))

    assert result["ok"] is True, result["problems"]
    levels = result["levels"]
    assert isinstance(levels, list)
    assert [level["name"] for level in levels] == ["flags", "release", "restore"]
    assert all(level["ran"] and level["recovered"] and level["within_target"] for level in levels)
    assert [level["target_seconds"] for level in levels] == [120.0, 900.0, 2700.0]
    # Each level acted for real: flags off, 1.0.0 back, the files restored.
    assert rig.flag_rollout()["enabled"] is False
    assert rig.target.current_release() == "1.0.0"
    assert (rig.root / "uploads" / "logo.txt").read_text() == "before the drill"
    (restored,) = levels[2]["restored"]
    assert restored["kind"] == "files"
    assert levels[2]["restore_seconds"] is not None
    # Only the changing steps ran: no analysis, pause or promotion.
    rollout = rig.stores[-1].get_rollout(str(result["rollout"]))
    assert rollout.state is RolloutState.ROLLED_BACK
    assert rollout.plan_text.startswith(DRILL_HEADER)
    assert [s.kind for s in rig.stores[-1].steps(rollout.id)] == ["backup", "deploy", "flag"]
    kinds = rig.kinds(rollout.id)
    assert kinds[-1] == Kind.DRILL_FINISHED
    assert Kind.DRILL_STARTED in kinds
    markdown = render_drill(result)
    assert "Rollback drill of shop: passed" in markdown
    assert "| 2 (release) |" in markdown


def test_a_level_slower_than_its_target_fails_the_drill(rig: Rig) -> None:
    rig.target.on_call = lambda name, args: time.sleep(0.02) if args == ("1.0.0",) else None

    result = drill(rig, plan(rig, "{targets: {release: 10ms}}"), [1, 2])

    assert result["ok"] is False
    assert result["problems"] == [
        next(level["problem"] for level in result["levels"] if level["name"] == "release")
    ]
    assert "over its target of 0.01s" in str(result["problems"])
    assert last_drill(rig.stores[-1], "shop", passed=True) is None
    assert last_drill(rig.stores[-1], "shop") is not None


def test_levels_default_to_the_drill_section_then_the_rollback_policy(rig: Rig) -> None:
    result = drill(rig, plan(rig, "{levels: [release]}"))

    assert [level["name"] for level in result["levels"]] == ["release"]


@pytest.mark.parametrize(
    ("levels", "backups", "message"),
    [
        ([4], True, "--levels: must name levels 1, 2 or 3"),
        ([], True, "--levels: must name levels 1, 2 or 3"),
        ([3], False, "level 3 restores the data from a backup: the plan declares no backups"),
    ],
)
def test_levels_the_plan_cannot_drill_are_refused_before_anything_changes(
    rig: Rig, levels: list[int], backups: bool, message: str
) -> None:
    path = plan(rig, backups=backups)

    with pytest.raises(PlanError, match=message):
        create_drill(rig.controller(), path, levels)

    assert rig.stores[-1].list_rollouts() == []
    assert rig.target.called("deploy") == []


def test_the_drill_plan_keeps_only_the_steps_that_change_the_service(rig: Rig) -> None:
    text = drill_plan_text(plan(rig).read_text(), ["flags", "restore"])

    assert text.startswith(DRILL_HEADER)
    steps = text.split("steps:")[1]
    assert "analysis" not in steps
    assert "promote" not in steps
    assert "levels:\n  - flags\n  - restore" in text


# -- a plan that requires a recent drill ------------------------------------------------


def test_a_rollout_waits_for_a_passed_drill_within_the_required_age(rig: Rig) -> None:
    path = plan(rig, "{require_within: 7d}")
    store = rig.stores[-1]

    with pytest.raises(
        DrillRequiredError,
        match=r"requires a passed rollback drill of shop within 7\.0 days; there is none",
    ):
        rig.controller().create(path)
    assert store.list_rollouts() == []

    result = drill(rig, path, [1])
    assert result["ok"] is True
    rollout = rig.controller().create(path)  # now it may start
    assert rollout.state is RolloutState.PENDING

    loaded = rig.controller().plan_of(rollout)
    with pytest.raises(DrillRequiredError, match=r"passed 8.0 days ago"):
        require_fresh_drill(store, loaded, now=float(result["ended"]) + 8 * DAY)


def test_a_failed_drill_does_not_count(rig: Rig) -> None:
    path = plan(rig, "{require_within: 1d, targets: {release: 10ms}}")
    rig.target.on_call = lambda name, args: time.sleep(0.02) if args == ("1.0.0",) else None

    assert drill(rig, path, [2])["ok"] is False

    with pytest.raises(DrillRequiredError, match="there is none"):
        rig.controller().create(path)


@pytest.mark.parametrize(
    ("drill_section", "field", "message"),
    [
        ("{require_within: 7x}", "drill.require_within", "must be an age like 7d"),
        ("{require_within: 0d}", "drill.require_within", "greater than 0"),
        ("{levels: [flags, flags]}", "drill.levels", "at most once"),
        ("{levels: [everything]}", "drill.levels", ""),
        ("{targets: {flags: soon}}", "drill.targets.flags", "must be a duration"),
        ("{target: {flags: 2m}}", "drill.target", "unknown key"),
    ],
)
def test_a_bad_drill_section_is_refused_with_its_line(
    rig: Rig, drill_section: str, field: str, message: str
) -> None:
    path = plan(rig, drill_section)
    line = path.read_text().count("\n")  # the drill section is the last line

    with pytest.raises(PlanError) as refused:
        rig.controller().create(path)

    assert f"{path}:{line}: {field}" in str(refused.value)
    assert message in str(refused.value)


def test_a_level_that_changed_nothing_was_not_drilled(rig: Rig) -> None:
    rig.target.deploy("1.1.0")  # the candidate is already live: level 2 has nothing to undo

    result = drill(rig, plan(rig), [2])

    assert result["ok"] is False
    (level,) = result["levels"]
    assert level["changed"] is False
    assert "level 2 (release) changed nothing, so it was not really drilled" in level["problem"]


def test_a_drill_is_refused_while_a_rollout_of_the_service_is_unfinished(rig: Rig) -> None:
    controller, rollout_id = rig.create(["deploy", "pause: {}", "promote"])
    assert controller.run(rollout_id).state is RolloutState.PAUSED
    path = plan(rig)

    with pytest.raises(ConflictError, match=f"rollout {rollout_id} of shop is paused"):
        create_drill(rig.controller(), path, None)

    assert [r.id for r in rig.stores[-1].list_rollouts()] == [rollout_id]


def test_no_controller_daemon_claims_a_drill(rig: Rig) -> None:
    # Resumed by `rollsafe controller run`, a drill's steps would end promoted.
    created = create_drill(rig.controller(), plan(rig), None)
    _, real = rig.create(["deploy", "promote"])
    now = time.time()

    assert not unowned(rig.stores[-1].get_rollout(created.rollout.id), now)
    assert unowned(rig.stores[-1].get_rollout(real), now)
