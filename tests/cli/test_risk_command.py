"""``rollsafe risk`` through the real command line over a real git repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Run
from tests.gates.gitrepo import Repo, lines

PLAN_HEAD = "version: 1\nservice: shop\ntarget: {type: process, root: root, command: [python]}\n"


def make_repo(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "shop")
    repo.commit("first", {"app/cart.py": lines(5)}, tag="v1")
    repo.commit("second", {"app/cart.py": lines(205), "go.mod": "module shop\n"}, tag="v2")
    return repo


def test_json_output_has_the_score_and_its_breakdown(rollsafe: Run, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    done = rollsafe("risk", "v1..v2", "--repo", str(repo.path), "--critical", "app/", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["range"] == "v1..v2"
    assert (result["commits"], result["files_total"], result["lines"]) == (1, 2, 201)
    factors = {row["factor"]: row for row in result["breakdown"]}
    assert factors["critical_paths"]["why"] == "files on critical paths (1): app/cart.py"
    assert factors["dependencies"]["why"] == "dependency files (1): go.mod"
    assert result["score"] == pytest.approx(
        sum(row["points"] for row in result["breakdown"]), abs=0.2
    )
    assert not (tmp_path / "home").exists()  # reading the journal created no state


def test_the_table_explains_each_factor(rollsafe: Run, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    done = rollsafe("risk", "v1..v2", "--repo", str(repo.path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("risk of v1..v2: ")
    assert "201 lines changed in 2 files over 1 commits" in done.stdout
    assert "no coverage report given: not scored" in done.stdout


def test_fail_at_exits_1_at_that_level(rollsafe: Run, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    assert rollsafe("risk", "v1..v2", "--repo", str(repo.path), "--fail-at", "low").returncode == 1
    done = rollsafe("risk", "v1..v2", "--repo", str(repo.path), "--fail-at", "critical")
    assert done.returncode == 0


def test_an_unknown_range_exits_2_naming_it(rollsafe: Run, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    done = rollsafe("risk", "v1..nope", "--repo", str(repo.path))
    assert done.returncode == 2
    assert "range 'v1..nope': unknown revision 'nope'" in done.stderr


def test_a_plan_with_bad_risk_weights_is_refused_with_its_line(
    rollsafe: Run, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        PLAN_HEAD + "risk:\n  repo: shop\n  weights: {churn: 10, vibes: 5}\nsteps:\n  - promote:\n"
    )
    done = rollsafe("risk", "v1..v2", "--plan", str(plan))
    assert done.returncode == 2, done.stderr
    message = " ".join(done.stderr.split())  # the terminal may wrap it
    assert message == (
        f"error: {plan}:6: risk.weights: unknown factors ['vibes']; known: "
        "churn, critical_paths, uncovered_lines, dependencies, migrations, rollback_history"
    )
    del repo


def test_rollout_start_with_an_unknown_risk_range_creates_nothing(
    rollsafe: Run, tmp_path: Path
) -> None:
    make_repo(tmp_path)
    (tmp_path / "root").mkdir()
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN_HEAD + "risk: {repo: shop}\nsteps:\n  - promote:\n")
    done = rollsafe("rollout", "start", str(plan), "--risk-range", "v1..v9")
    assert done.returncode == 2, done.stderr
    assert "range 'v1..v9': unknown revision 'v9'" in done.stderr
    listed = rollsafe("rollout", "list", "--json")
    assert json.loads(listed.stdout or "[]") == []
