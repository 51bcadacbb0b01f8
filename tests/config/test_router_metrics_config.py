"""``metrics.provider: router``: the default with a router, refused without one, checked fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollsafe.config import Plan, RouterMetrics, ScrapeMetrics, load_plan
from rollsafe.controller.adapters import build_router, build_source, build_target
from rollsafe.errors import PlanError
from rollsafe.metrics import RouterSource

PLAN = """\
version: 1
service: shop
target:
  root: shop
  command: ["{python}", "-m", "rollsafe.demo.shop", "--port", "{port}"]
steps:
  - canary: {release: 1.1.0, weight: 20}
  - analysis: {duration: 10s, arms: release}
"""
ROUTER = "router:\n  type: nginx\n"


def load(tmp_path: Path, text: str) -> Plan:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return load_plan(path)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(PlanError) as caught:
        load(tmp_path, text)
    return caught.value.problems


def test_a_plan_with_a_router_and_no_metrics_measures_at_the_router(tmp_path: Path) -> None:
    plan = load(tmp_path, PLAN + ROUTER)
    assert plan.metrics == RouterMetrics()


def test_explicit_metrics_are_kept_with_a_router(tmp_path: Path) -> None:
    plan = load(tmp_path, PLAN + ROUTER + "metrics:\n  provider: scrape\n")
    assert isinstance(plan.metrics, ScrapeMetrics)


def test_router_metrics_without_a_router_are_refused_naming_the_line(tmp_path: Path) -> None:
    steps = PLAN[PLAN.index("steps:") :]
    text = PLAN.replace(steps, "steps:\n  - analysis: {duration: 10s}\n")
    text += "metrics:\n  provider: router\n"
    assert problems(tmp_path, text) == [
        f"{tmp_path}/plan.yaml:9: metrics.provider: metrics from the router need a process "
        "target and a router (add router:)"
    ]


@pytest.mark.parametrize(
    ("metrics", "field", "message"),
    [
        ("latency_buckets: [0.1, 0.05]", "metrics.latency_buckets", "bucket bounds must increase"),
        ("latency_buckets: [0, 1]", "metrics.latency_buckets", "must be positive"),
        ("arm_label: route", "metrics.arm_label", "'variant' or 'release'"),
        ("canary: same\n  baseline: same", "metrics", "canary and baseline must differ"),
    ],
)
def test_bad_router_metrics_fields_are_refused(
    tmp_path: Path, metrics: str, field: str, message: str
) -> None:
    (problem,) = problems(tmp_path, PLAN + ROUTER + f"metrics:\n  provider: router\n  {metrics}\n")
    assert f": {field}: " in problem
    assert message in problem


def test_a_variant_header_nginx_cannot_name_is_refused(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path, PLAN + ROUTER + "  variant_header: X Variant\n")
    assert f"{tmp_path}/plan.yaml:11: router.variant_header:" in problem


def test_the_controller_reads_the_records_of_the_plans_router(tmp_path: Path) -> None:
    plan = load(tmp_path, PLAN + ROUTER)
    home = tmp_path / "home"
    target = build_target(plan, home)
    source = build_source(plan, target)
    assert isinstance(source, RouterSource)
    router = build_router(plan, home)
    assert router is not None
    assert source.records == router.records_log == home / "routers/shop/requests.log"
    source.close()
