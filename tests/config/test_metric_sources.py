"""The metric sources' plan sections: one arms rule for all, templates, command and http.

Every bad section is refused at load with file:line and the field, before any
state exists.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rollsafe.config import CommandMetrics, HttpMetrics, PrometheusMetrics, load_plan
from rollsafe.errors import PlanError

HEAD = """\
version: 1
service: shop
target: {root: shop, command: [run, "{port}"]}
steps:
  - promote:
metrics:
"""


def load(tmp_path: Path, metrics: str) -> PrometheusMetrics | CommandMetrics | HttpMetrics:
    path = tmp_path / "plan.yaml"
    path.write_text(HEAD + metrics)
    metrics_section = load_plan(path).metrics
    assert isinstance(metrics_section, PrometheusMetrics | CommandMetrics | HttpMetrics)
    return metrics_section


def refused(tmp_path: Path, metrics: str) -> str:
    path = tmp_path / "plan.yaml"
    path.write_text(HEAD + metrics)
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert len(caught.value.problems) == 1, caught.value.problems
    problem = caught.value.problems[0]
    assert problem.startswith(f"{path}:"), problem
    return problem.removeprefix(f"{path}:")


@pytest.mark.parametrize("provider", ["scrape", "prometheus", "command", "http"])
def test_equal_arms_are_refused_for_every_source(tmp_path: Path, provider: str) -> None:
    """Scrape used to accept them, then stayed inconclusive forever (issue 11)."""
    extra = {
        "command": "  argv: [fetch, '{arm}']\n",
        "http": "  url: 'http://127.0.0.1:1/{arm}'\n  fields: {requests: a, errors: b}\n",
    }.get(provider, "")
    problem = refused(tmp_path, f"  provider: {provider}\n  canary: v1\n  baseline: v1\n{extra}")
    assert problem == "6: metrics: canary and baseline must differ, both are 'v1'"


TEMPLATES = """\
  provider: prometheus
  queries:
    requests: 'sum(http_server_requests_seconds_count{release="{release}"})'
    errors: %s
"""


def test_templates_load(tmp_path: Path) -> None:
    errors = """'sum(http_server_requests_seconds_count{release="{release}",status=~"5.."})'"""
    metrics = load(tmp_path, TEMPLATES % errors)
    assert isinstance(metrics, PrometheusMetrics)
    assert metrics.queries is not None
    assert metrics.queries.errors.endswith('status=~"5.."})')


@pytest.mark.parametrize(
    ("errors", "message"),
    [
        (
            """'sum(x{release="{release}"}'""",
            "PromQL syntax error at character 27: expected ',' or ')'",
        ),
        ("""'sum(x{release="{bogus}"})'""", "unknown placeholder {bogus}"),
        ("""'rat(x{release="{release}"})'""", "expected a known function or aggregation"),
        ("'sum(x{release={release}})'", "a placeholder outside a quoted string at character 15"),
        ("""'sum(x{release="{release}"}[5])'""", "expected a duration such as 5m"),
        ("'sum(x)'", "must use {arm} or {release}"),
    ],
)
def test_a_broken_template_is_refused_with_file_and_line(
    tmp_path: Path, errors: str, message: str
) -> None:
    problem = refused(tmp_path, TEMPLATES % errors)
    assert problem.startswith("10: metrics.queries.errors: "), problem
    assert message in problem


def test_command_source_loads_and_must_tell_arms_apart(tmp_path: Path) -> None:
    metrics = load(
        tmp_path, "  provider: command\n  argv: [fetch, --arm, '{arm}']\n  timeout: 3s\n"
    )
    assert isinstance(metrics, CommandMetrics)
    assert (metrics.argv, metrics.timeout) == (["fetch", "--arm", "{arm}"], 3.0)
    assert refused(tmp_path, "  provider: command\n  argv: [fetch]\n") == (
        "6: metrics: argv must use {arm} or {release}, or both arms would get the same numbers"
    )
    assert refused(tmp_path, "  provider: command\n  argv: [fetch, '{arms}']\n").startswith(
        "8: metrics.argv[1]: unknown placeholder {arms}"
    )


def test_http_source_paths_are_checked_at_load(tmp_path: Path) -> None:
    section = """\
  provider: http
  url: 'http://127.0.0.1:1/stats'
  params: {variant: '{arm}'}
  fields:
    requests: $.data.total
    errors: 'data.by_status["5xx"]'
    latency_seconds_bucket: %s
"""
    metrics = load(tmp_path, section % "data.buckets[0]")
    assert isinstance(metrics, HttpMetrics)
    assert metrics.fields.errors == 'data.by_status["5xx"]'
    problem = refused(tmp_path, section % "'data..buckets'")
    assert problem.startswith("13: metrics.fields.latency_seconds_bucket: bad JSON path"), problem
    assert refused(tmp_path, (section % "a").replace("'{arm}'", "old")) == (
        "6: metrics: url or params must use {arm} or {release}, "
        "or both arms would get the same numbers"
    )


def test_on_blind_is_pause_unless_the_plan_or_the_step_says_otherwise(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(
        HEAD.replace("  - promote:\n", "  - analysis: {duration: 5s, on_blind: rollback}\n")
        + "  provider: scrape\n"
    )
    plan = load_plan(path)
    assert (plan.analysis.on_blind, plan.analysis.blind_after) == ("pause", 30.0)
    assert plan.steps[0].analysis is not None
    assert plan.steps[0].analysis.on_blind == "rollback"
    path.write_text(HEAD + "  provider: scrape\nanalysis: {on_blind: ignore}\n")
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert caught.value.problems[0].startswith(f"{path}:8: analysis.on_blind: ")
