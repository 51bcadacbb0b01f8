"""Pipeline files: bad input refused with file:line and field before anything is written,
and each stage's effective plan (overrides merged, release set)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rollsafe.config.pipeline import load_pipeline
from rollsafe.errors import PlanError
from tests.pipeline.rig import PLAN

STAGES = """\
version: 1
name: shop
stages:
  - name: dev
    plan: plan.yaml
  - name: staging
    plan: plan.yaml
{extra}"""


def write(tmp_path: Path, extra: str = "", plan: str | None = None) -> Path:
    (tmp_path / "plan.yaml").write_text(plan or PLAN.format(endpoint="http://127.0.0.1:9"))
    path = tmp_path / "pipeline.yaml"
    path.write_text(STAGES.format(extra=extra))
    return path


def problems(path: Path) -> str:
    with pytest.raises(PlanError) as caught:
        load_pipeline(path)
    return "\n".join(caught.value.problems)


def test_an_unknown_stage_is_named_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "  - name: production\n    plan: plan.yaml\n    after: stagin\n")
    assert f"{path}:10: stages[2].after: unknown stage 'stagin'" in problems(path)


def test_stages_waiting_for_each_other_are_a_cycle(tmp_path: Path) -> None:
    path = write(tmp_path)
    text = path.read_text().replace(
        "    plan: plan.yaml\n  - name: staging",
        "    plan: plan.yaml\n    after: staging\n  - name: staging",
        1,
    )
    path.write_text(text)
    found = problems(path)
    assert f"{path}:6: stages[0].after: stages wait for each other: dev → staging → dev" in found


def test_a_stage_named_twice_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "  - name: dev\n    plan: plan.yaml\n")
    assert f"{path}:8: stages[2].name: stage 'dev' is named twice" in problems(path)


def test_a_bad_stage_plan_names_both_files(tmp_path: Path) -> None:
    path = write(tmp_path, "    overrides: {steps: [{deploy: {releas: x}}]}\n")
    found = problems(path)
    assert f"{path}:7: stages[1].plan: stage staging" in found
    assert "releas" in found  # the plan's own error, from the merged plan


def test_a_missing_plan_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "  - name: production\n    plan: nowhere.yaml\n")
    assert "nowhere.yaml: no such file" in problems(path)


@pytest.mark.parametrize(
    ("gates", "message"),
    [
        ("[{soak: {duration: 1s}, approval: }]", "exactly one of soak, command, load, approval"),
        ("[{load: {duration: 1s}}]", "a load gate needs baseline and candidate URLs"),
        ("[{command: {command: []}}]", "command"),
        ("[{soak: {duration: soon}}]", "must be a duration"),
    ],
)
def test_bad_gates_are_refused_with_their_line(tmp_path: Path, gates: str, message: str) -> None:
    path = write(tmp_path, f"    gates: {gates}\n")
    found = problems(path)
    assert f"{path}:8: stages[1].gates" in found
    assert message in found


def test_overrides_merge_and_the_release_is_set_in_every_deploy(tmp_path: Path) -> None:
    path = write(tmp_path, "    overrides: {target: {state_dir: staging-state}}\n")
    pipeline, plans = load_pipeline(path, release="4.2.0")
    staging = yaml.safe_load(plans["staging"])
    assert staging["target"]["state_dir"] == "staging-state"
    assert staging["target"]["type"] == "command"  # merged, not replaced
    assert staging["steps"][0] == {"deploy": {"release": "4.2.0"}}
    assert plans["dev"] != plans["staging"]
    assert [stage.name for stage in pipeline.order()] == ["dev", "staging"]


def test_the_cli_refuses_a_bad_pipeline_and_writes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "  - name: production\n    plan: plan.yaml\n    after: nowhere\n")
    home = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, "-m", "rollsafe", "--home", str(home), "pipeline", "run", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "stages[2].after: unknown stage 'nowhere'" in done.stderr
    assert not (home / "rollsafe.db").exists()
