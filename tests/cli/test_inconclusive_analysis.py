"""An analysis that cannot decide pauses the rollout: not a success, and it decides again.

Found by outside testing: the step was stored and shown as succeeded, ``rollout
start`` exited 0 (CI went green), and ``resume`` went straight on to the next step.
The shop here gets no traffic at all, so every analysis is inconclusive.
"""

from __future__ import annotations

import json
import re

import pytest

from rollsafe.cli.exits import Exit
from rollsafe.store import RolloutState, SqliteStore, StepState
from tests.controller.conftest import Shop, with_steps

pytestmark = pytest.mark.slow

STEPS = """\
steps:
  - deploy: {release: 1.1.0}
  - analysis: {duration: 2s}
  - flag: {name: fast-checkout, rollout: 100}
  - promote:
"""


def pausing_plan(shop: Shop) -> None:
    text = with_steps(shop.plan_path.read_text(), STEPS)
    text = text.replace("on_inconclusive: rollback", "on_inconclusive: pause")
    # No guards: a fresh process's warm-up must not roll back before the pause is seen.
    text = text[: text.index("guards:")] + "guards: []\n" + text[text.index("rollback:") :]
    text = text.replace("for: 6s", "for: 2s")
    shop.plan_path.write_text(text)


def test_an_inconclusive_analysis_pauses_exits_4_and_runs_again_on_resume(shop: Shop) -> None:
    pausing_plan(shop)
    started = shop.rollsafe("rollout", "start", str(shop.plan_path))
    assert started.returncode == Exit.PAUSED == 4, started.stdout + started.stderr
    assert "✔ step 1: analysis" not in started.stdout
    assert "⏸ step 1: analysis" in started.stdout
    assert "analysis inconclusive" in started.stdout
    (rollout,) = json.loads(shop.rollsafe("rollout", "list", "--json").stdout)
    rollout_id = rollout["id"]

    store = SqliteStore(shop.home / "rollsafe.db")
    try:
        assert store.get_rollout(rollout_id).state is RolloutState.PAUSED
        analysis = store.steps(rollout_id)[1]
        assert analysis.state is StepState.PENDING  # not succeeded: nothing was decided
        assert analysis.result["verdict"]["verdict"] == "inconclusive"
    finally:
        store.close()

    resumed = shop.rollsafe("rollout", "resume", rollout_id)
    assert resumed.returncode == Exit.PAUSED, resumed.stdout + resumed.stderr
    store = SqliteStore(shop.home / "rollsafe.db")
    try:
        journal = store.journal(rollout_id)
        assert sum(e.kind == "analysis.verdict" for e in journal) == 2  # decided again
        assert not [e for e in journal if e.kind == "step.running" and e.data["index"] == 2]
        assert store.get_flag("fast-checkout").definition["enabled"] is False
    finally:
        store.close()

    status = shop.rollsafe("rollout", "status", rollout_id)
    assert status.returncode == Exit.PAUSED
    assert "inconclusive" in status.stdout
    assert not re.search(r"[\[{]'", status.stdout)  # no Python reprs

    aborted = shop.rollsafe("rollout", "abort", rollout_id)
    assert aborted.returncode == Exit.OK, aborted.stdout + aborted.stderr
    assert shop.rollsafe("rollout", "status", rollout_id).returncode == Exit.ROLLED_BACK
    assert shop.target.current_release() == "1.0.0"
