"""Invalid plans are refused with file:line: field: message, and valid ones load fully."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollsafe.config import load_plan, parse_duration
from rollsafe.errors import PlanError

VALID = """\
version: 1
service: shop
target:
  root: shop
  instances: 2
  command: ["{python}", "-m", "rollsafe.demo.shop", "--port", "{port}"]
flags:
  - name: fast-checkout
backups:
  - name: orders
    type: sqlite
    path: shop/data/shop.db
steps:
  - backup:
  - deploy: {release: 1.1.0}
  - flag: {name: fast-checkout, rollout: 10}
  - analysis: {duration: 10s}
  - promote:
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(PlanError) as caught:
        load_plan(write(tmp_path, text))
    return caught.value.problems


def test_valid_plan_loads_with_paths_relative_to_the_plan(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, VALID))
    assert [step.kind for step in plan.steps] == ["backup", "deploy", "flag", "analysis", "promote"]
    assert plan.target.root == tmp_path / "shop"
    assert plan.backups[0].path == tmp_path / "shop/data/shop.db"
    assert plan.steps[3].analysis is not None
    assert plan.steps[3].analysis.duration == 10.0


def test_out_of_range_value_names_line_and_field(tmp_path: Path) -> None:
    text = VALID.replace("rollout: 10", "rollout: 150")
    assert problems(tmp_path, text) == [
        f"{tmp_path}/plan.yaml:16: steps[2].flag.rollout: must be between 0 and 100, got 150"
    ]


def test_unknown_key_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    text = VALID.replace("  instances: 2", "  instance: 2")
    assert problems(tmp_path, text) == [
        f"{tmp_path}/plan.yaml:5: target.instance: unknown key (did you mean 'instances'?)"
    ]


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    text = VALID.replace("  - promote:", "  - promote: [unclosed")
    (problem,) = problems(tmp_path, text)
    assert problem.startswith(f"{tmp_path}/plan.yaml:")
    assert "invalid YAML" in problem
    line = int(problem.split(":")[1])
    assert line >= 19


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan(tmp_path / "nope.yaml")
    assert caught.value.problems == [f"{tmp_path}/nope.yaml: no such file"]


def test_step_with_two_kinds_is_refused(tmp_path: Path) -> None:
    text = VALID.replace("  - promote:", "  - promote: {}\n    pause: {}")
    (problem,) = problems(tmp_path, text)
    assert ":18: steps[4]: must have exactly one of" in problem


def test_reference_to_undeclared_flag(tmp_path: Path) -> None:
    text = VALID.replace("{name: fast-checkout, rollout: 10}", "{name: other, rollout: 10}")
    assert problems(tmp_path, text) == [
        f"{tmp_path}/plan.yaml:16: steps[2].flag.name: flag 'other' is not declared under flags"
    ]


def test_missing_required_field_and_bad_duration_reported_together(tmp_path: Path) -> None:
    text = VALID.replace("service: shop\n", "").replace("duration: 10s", "duration: soon")
    found = problems(tmp_path, text)
    assert f"{tmp_path}/plan.yaml:1: service: required field is missing" in found
    assert any(
        p.startswith(f"{tmp_path}/plan.yaml:16: steps[3].analysis.duration: must be a duration")
        for p in found
    )


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    text = VALID.replace("service: shop\n", "service: shop\nservice: other\n")
    assert problems(tmp_path, text) == [f"{tmp_path}/plan.yaml:3: service: duplicate key"]


@pytest.mark.parametrize(
    ("text", "seconds"), [("250ms", 0.25), ("10s", 10), ("5m", 300), ("1h", 3600), (3, 3)]
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_a_command_target_and_prometheus_metrics_load(tmp_path: Path) -> None:
    text = VALID.replace(
        """target:
  root: shop
  instances: 2
  command: ["{python}", "-m", "rollsafe.demo.shop", "--port", "{port}"]
""",
        """target:
  type: command
  deploy:
    - ["git", "-C", "{cwd}", "checkout", "v{release}"]
    - ["supervisorctl", "restart", "shop"]
  endpoints: ["http://127.0.0.1:8000"]
  cwd: app
  state_dir: state
metrics:
  provider: prometheus
  url: http://127.0.0.1:9090
""",
    )
    plan = load_plan(write(tmp_path, text))
    assert plan.target.type == "command"
    assert plan.target.cwd == tmp_path / "app"
    assert plan.metrics.provider == "prometheus"


def test_errors_inside_a_union_name_the_plan_field(tmp_path: Path) -> None:
    text = VALID.replace("steps:", "metrics:\n  provider: prometheus\n  urll: x\nsteps:")
    assert problems(tmp_path, text) == [
        f"{tmp_path}/plan.yaml:15: metrics.urll: unknown key (did you mean 'url'?)"
    ]
