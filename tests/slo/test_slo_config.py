"""SLO specs in plans and SLO files: what loads, what merges, and bad specs refused at file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollsafe.config import load_plan
from rollsafe.config.slo import WINDOW_PRESETS, parse_long_duration
from rollsafe.config.slo_files import load_slo_file
from rollsafe.errors import PlanError

PLAN = """\
version: 1
service: shop
target: {type: process, root: ., command: ["{python}", "-c", "pass"]}
steps:
  - promote:
"""


def plan_with(tmp_path: Path, section: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN + section)
    return path


def problems(tmp_path: Path, section: str) -> list[str]:
    with pytest.raises(PlanError) as caught:
        load_plan(plan_with(tmp_path, section))
    return caught.value.problems


def test_a_plan_with_a_list_of_objectives(tmp_path: Path) -> None:
    plan = load_plan(
        plan_with(
            tmp_path,
            "slos:\n  - {name: availability, target: 0.999}\n"
            "  - {name: fast, sli: latency, target: 0.99, threshold: 250ms, period: 4w,"
            " windows: pyrra}\n",
        )
    )
    assert plan.slos is not None
    first, second = plan.slos.objectives
    assert first.period == 28 * 86400
    assert [t.burn for t in first.windows] == [14.4, 6, 3, 1]  # Sloth's by default
    assert first.windows[0].guard_severity == "critical"
    assert first.windows[-1].guard_severity == "major"
    assert second.threshold == 0.25
    assert second.windows == list(WINDOW_PRESETS["pyrra"])
    assert second.windows[0].for_ == 120


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            "slos:\n  - name: a\n    target: 1.5\n",
            "plan.yaml:8: slos[0].target: must be a fraction strictly between 0 and 1",
        ),
        (
            "slos:\n  - name: a\n    target: 0\n",
            "plan.yaml:8: slos[0].target: must be a fraction strictly between 0 and 1",
        ),
        (
            "slos:\n  - name: a\n    target: 0.99\n    windows: slothh\n",
            "plan.yaml:9: slos[0].windows: unknown windows 'slothh'; known presets: "
            "sre-workbook, sloth, pyrra",
        ),
        (
            "slos:\n  - name: a\n    target: 0.99\n    sli: latency\n",
            "plan.yaml:7: slos[0]: a latency SLO needs a threshold",
        ),
        (
            "slos:\n  - name: a\n    target: 0.99\n    windows:\n"
            "      - {burn: 2, long: 5m, short: 1h, severity: page}\n",
            "plan.yaml:10: slos[0].windows[0]: short window (3600s) must be shorter than",
        ),
        (
            "slos:\n  - name: a\n    target: 0.99\n    windows:\n"
            "      - {burn: 2, long: 1fortnight, short: 1h, severity: page}\n",
            "plan.yaml:10: slos[0].windows[0].long: must be a duration like 10s, 5m or 1h, got "
            "'1fortnight' (or days and weeks: 28d, 4w)",
        ),
        (
            "slos:\n  - name: a\n    target: 0.99\n    period: 2d\n    windows: sre-workbook\n",
            "plan.yaml:7: slos[0]: windows[2]: long window 259200s is longer than the period",
        ),
        (
            "slos:\n  - name: a\n    target: 0.99\n    queries:\n"
            "      total: sum(rate(x_total[5m]))\n      errors: sum(rate(y[{window}]))\n",
            "plan.yaml:10: slos[0].queries.total: must use {window} in a range",
        ),
        (
            "slos:\n  - name: a\n    target: 0.99\n    queries:\n"
            "      total: sum(rate(x_total[{window}])\n      errors: sum(rate(y[{window}]))\n",
            "plan.yaml:10: slos[0].queries.total: PromQL syntax error at character 22",
        ),
        (
            "slos:\n  - name: a\n    target: 0.99\n    queries:\n"
            "      total: sum(rate(x[{window}]))\n      errors: sum(rate(y[{window}]))\n"
            "      good: sum(rate(z[{window}]))\n",
            "plan.yaml:9: slos[0].queries: give exactly one of errors and good, beside total",
        ),
        (
            "slos:\n  - {name: a, target: 0.99}\n  - {name: a, target: 0.9}\n",
            "plan.yaml:6: slos: objective names must be unique: a",
        ),
        (
            "slos:\n  objectives: [{name: a, target: 0.99}]\n  budget: {floor: 0.2}\n",
            "plan.yaml:8: slos.budget.floor: an error-budget floor needs the SLI's history",
        ),
        (
            "slos:\n  - {name: a, target: 0.99, treshold: 1s}\n",
            "plan.yaml:7: slos[0].treshold: unknown key (did you mean 'threshold'?)",
        ),
    ],
)
def test_bad_specs_are_refused_at_their_line(tmp_path: Path, section: str, expected: str) -> None:
    found = problems(tmp_path, section)
    assert any(problem.startswith(str(tmp_path / expected)) for problem in found), found


def test_objectives_from_a_file_the_plan_names(tmp_path: Path) -> None:
    (tmp_path / "slos.yaml").write_text(
        "version: 1\nservice: shop\ncompress: 60\nselector: {job: shop}\n"
        "objectives:\n  - {name: availability, target: 0.999}\n"
    )
    plan = load_plan(
        plan_with(
            tmp_path,
            "slos:\n  file: slos.yaml\n  compress: 120\n"
            "  objectives: [{name: fast, sli: latency, target: 0.99, threshold: 1s}]\n",
        )
    )
    assert plan.slos is not None
    assert [o.name for o in plan.slos.objectives] == ["availability", "fast"]
    assert plan.slos.compress == 120  # the plan's own setting wins
    assert plan.slos.selector == {"job": "shop"}  # the file's, where the plan sets none


def test_a_bad_slo_file_is_refused_at_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "slos.yaml").write_text(
        "version: 1\nservice: shop\nobjectives:\n  - name: availability\n    target: 99.9\n"
    )
    found = problems(tmp_path, "slos: {file: slos.yaml}\n")
    assert found[0].startswith(f"{tmp_path / 'slos.yaml'}:5: objectives[0].target: must be")


def test_an_slo_file_of_another_service_or_a_name_twice_is_refused(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text(
        "version: 1\nservice: billing\nobjectives: [{name: a, target: 0.9}]\n"
    )
    assert "the plan's service is 'shop'" in problems(tmp_path, "slos: {file: other.yaml}\n")[0]
    (tmp_path / "same.yaml").write_text(
        "version: 1\nservice: shop\nobjectives: [{name: a, target: 0.9}]\n"
    )
    twice = problems(tmp_path, "slos:\n  file: same.yaml\n  objectives: [{name: a, target: 0.5}]\n")
    assert "a also defined in the plan's slos" in twice[0]
    missing = problems(tmp_path, "slos: {file: nowhere.yaml}\n")
    assert "nowhere.yaml" in missing[0]


def test_an_slo_file_loads_by_itself(tmp_path: Path) -> None:
    path = tmp_path / "slos.yaml"
    path.write_text("version: 1\nservice: shop\nobjectives: [{name: a, target: 0.9}]\n")
    assert load_slo_file(path).objectives[0].budget == pytest.approx(0.1)


def test_long_durations() -> None:
    assert parse_long_duration("28d") == 28 * 86400
    assert parse_long_duration("4w") == 28 * 86400
    assert parse_long_duration("250ms") == 0.25
    assert parse_long_duration(90) == 90
    for bad in ("1y", True, "-5m", "5 minutes"):
        with pytest.raises(ValueError, match="duration"):
            parse_long_duration(bad)
