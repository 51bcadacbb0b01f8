"""The rollout page shows the service's last rollback drill (issue 15), as `rollout status` does.

Real drills (`rollsafe.controller.drills`) run on rollsafe.testing's fakes in the
server's own SQLite store; the page is fetched from a real server on loopback.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rollsafe.controller.drill_records import last_drill
from rollsafe.controller.drills import create_drill, run_drill
from rollsafe.store import RolloutState
from tests.controller.rig import PLAN, STEP, Rig
from tests.server.servers import Tokens


@pytest.fixture
def rig(db: Path, tokens: Tokens) -> Iterator[Rig]:
    del tokens
    rig = Rig(db.parent)
    (rig.root / "root" / "releases" / "1.1.0").mkdir(parents=True)
    try:
        yield rig
    finally:
        rig.close()


def plan(rig: Rig, drill: str) -> Path:
    """The rig's plan (deploy, flag, analysis, promote) with a ``drill:`` section."""
    steps = "\n".join(f"  - {STEP[s]}" for s in ("deploy", "flag", "analysis", "promote"))
    text = PLAN.format(
        root=rig.root, steps=steps, watch="0s", levels="[flags, release, restore]", guards="[]"
    )
    path = rig.root / "drill-plan.yaml"
    path.write_text(f"{text}drill: {drill}\n")
    return path


def drill(rig: Rig, path: Path, levels: list[int] | None = None) -> dict[str, Any]:
    controller = rig.controller()
    return run_drill(controller, create_drill(controller, path, levels)).result


def section(api: httpx.Client, rollout_id: str) -> str:
    """The page's drill section, as HTML."""
    answer = api.get(f"/ui/rollouts/{rollout_id}")
    assert answer.status_code == 200, answer.text
    found = re.search(r"<h2>Last rollback drill.*?(?=<h2>|</main>)", answer.text, re.S)
    assert found, "the rollout page has no drill section"
    return found.group(0)


def test_the_rollout_page_shows_the_last_drill_of_its_service(rig: Rig, api: httpx.Client) -> None:
    controller, rollout_id = rig.create(["flag", "promote"])  # leaves 1.0.0 live
    controller.run(rollout_id)
    assert "none yet" in section(api, rollout_id)  # never drilled: the page says how to

    passed = drill(rig, plan(rig, "{}"))
    assert passed["ok"] is True, passed["problems"]
    shown = section(api, rollout_id)
    assert '<span class="state passed">passed</span>' in shown
    assert f'href="/ui/rollouts/{passed["rollout"]}"' in shown  # the drill's own page
    # Each level against the runbooks' default targets, as `rollout status` prints it.
    for level, name, target in (
        (1, "flags", "2 min"),
        (2, "release", "15 min"),
        (3, "restore", "45 min"),
    ):
        row = re.search(rf"<tr><td>{level}</td><td>{name}</td>(.*?)</tr>", shown)
        assert row, f"no row for level {level}"
        cells = re.findall(r"<td>(.*?)</td>", row.group(1))
        total = next(lv["seconds"] for lv in passed["levels"] if lv["level"] == level)
        assert cells[2] == f"{total:.2f} s"
        assert cells[3] == target
        assert "ok" in cells[4]
    assert "uploads (files)" in shown  # level 3's restored backup


def test_the_newest_drill_is_shown_and_a_failed_one_says_why(rig: Rig, api: httpx.Client) -> None:
    drill(rig, plan(rig, "{}"))
    time.sleep(0.01)
    rig.target.on_call = lambda name, args: time.sleep(0.03) if args == ("1.0.0",) else None
    failed = drill(rig, plan(rig, "{targets: {release: 10ms}}"), [1, 2])
    assert failed["ok"] is False
    newest = last_drill(rig.stores[-1], "shop")
    assert newest is not None
    assert newest.rollout_id == failed["rollout"]

    shown = section(api, failed["rollout"])  # a drill's own page shows it too
    assert '<span class="state failed">failed</span>' in shown
    assert "over its target of 0.01s" in shown
    release = re.search(r"<tr><td>2</td><td>release</td>(.*?)</tr>", shown)
    assert release
    assert "failed" in release.group(1)
    assert "0.01 s" in release.group(1)
    assert "<td>3</td>" not in shown  # level 3 was not asked for


def test_a_read_token_sees_the_drill_and_no_token_sees_nothing(
    rig: Rig, server: Any, tokens: Tokens
) -> None:
    result = drill(rig, plan(rig, "{}"), [1])
    rollout = rig.stores[-1].get_rollout(result["rollout"])
    assert rollout.state in (RolloutState.ROLLED_BACK, RolloutState.ABORTED, RolloutState.PROMOTED)
    with httpx.Client(base_url=server.url, timeout=5) as anonymous:
        refused = anonymous.get(f"/ui/rollouts/{rollout.id}")
        assert refused.status_code == 303
        assert "/ui/login" in refused.headers["location"]
        anonymous.headers["Authorization"] = f"Bearer {tokens.client}"
        assert "<td>1</td><td>flags</td>" in section(anonymous, rollout.id)
