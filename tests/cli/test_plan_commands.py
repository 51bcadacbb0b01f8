"""``rollsafe plan`` and bad plans through ``rollout start``: exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rollsafe.store import SqliteStore
from tests.cli.conftest import Run

PLAN = """\
version: 1
service: shop
target:
  root: shop
  command: ["{python}", "-m", "http.server", "{port}"]
flags:
  - name: fast-checkout
steps:
  - flag: {name: fast-checkout, rollout: 10}
  - promote:
"""


def test_validate_accepts_a_good_plan(tmp_path: Path, rollsafe: Run) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    (tmp_path / "shop").mkdir()
    result = rollsafe("plan", "validate", str(tmp_path / "plan.yaml"))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout
    assert "flag name=fast-checkout rollout=10.0" in result.stdout


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("rollout: 10", "rollout: 150"),
            ":9: steps[0].flag.rollout: must be between 0 and 100, got 150",
        ),
        (
            ("service: shop", "service: shop\nservise: x"),
            ":3: servise: unknown key (did you mean 'service'?)",
        ),
        (("  - promote:", "  - promote: ]"), ":10: invalid YAML"),
    ],
)
def test_bad_plans_exit_2_and_leave_no_state(
    tmp_path: Path, rollsafe: Run, change: tuple[str, str], expected: str
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.replace(*change))
    for command in (("plan", "validate"), ("rollout", "start")):
        result = rollsafe(*command, str(plan))
        assert result.returncode == 2, result.stdout
        assert f"{plan}{expected}" in result.stderr.replace("\n", "")
    assert not (tmp_path / "home").exists()


def test_bad_plan_leaves_an_existing_store_unchanged(tmp_path: Path, rollsafe: Run) -> None:
    assert rollsafe("flags", "set", "x", "--rollout", "5").returncode == 0
    db = tmp_path / "home" / "rollsafe.db"
    before = db.read_bytes(), sorted(p.name for p in db.parent.iterdir())
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.replace("rollout: 10", "rollout: -1"))
    assert rollsafe("rollout", "start", str(plan)).returncode == 2
    assert rollsafe("rollout", "start", str(tmp_path / "missing.yaml")).returncode == 2
    store = SqliteStore(db)
    assert store.list_rollouts() == []
    assert [e.kind for e in store.journal()] == ["flag.changed"]
    store.close()
    assert sorted(p.name for p in db.parent.iterdir()) == before[1]


def test_schema_is_json_schema_for_the_plan(rollsafe: Run) -> None:
    result = rollsafe("plan", "schema")
    schema = json.loads(result.stdout)
    assert schema["title"] == "Plan"
    assert {"version", "service", "target", "steps"} <= set(schema["required"])
    assert schema["additionalProperties"] is False
