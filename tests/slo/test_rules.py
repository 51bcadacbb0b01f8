"""``rollsafe slo rules``: Sloth's names, promtool's checks, and promtool's own rule unit test.

``promtool test rules`` evaluates the generated rules over input series it is
given, minute by minute, without a server: two hours of clean traffic at
1,000 requests a minute, then 5% errors (a 50x burn of a 99.9% SLO). The page
tier's 1h window passes 14.4 x 0.1% after 14.4 x 0.1% x 60 / 5% = 17.3 minutes,
so its alert must not fire at the 17th minute and must fire by the 19th, alone:
promtool evaluates the groups in no fixed order, so the alert group may read the
ratios recorded at the 18th minute or those of the 17th.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from rollsafe.cli import app
from rollsafe.config.slo import SloSettings
from rollsafe.demo.prometheus import prometheus_binary
from rollsafe.slo.rules import rules

SLOS = """\
version: 1
service: shop
selector: {job: shop}
objectives:
  - name: availability
    target: 0.999
  - name: latency
    sli: latency
    target: 0.99
    threshold: 1s
    windows: pyrra
  - name: custom
    target: 0.95
    period: 7d
    windows: sre-workbook
    queries:
      total: sum(rate(my_requests_total[{window}]))
      good: sum(rate(my_requests_total{outcome="ok"}[{window}]))
"""


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [prometheus_binary("promtool"), *args], capture_output=True, text=True, check=False
    )


def write_rules(tmp_path: Path, text: str = SLOS, *extra: str) -> Path:
    (tmp_path / "slos.yaml").write_text(text)
    output = tmp_path / "rules.yml"
    result = CliRunner().invoke(
        app, ["slo", "rules", str(tmp_path / "slos.yaml"), "-o", str(output), *extra]
    )
    assert result.exit_code == 0, result.output
    return output


def test_rules_pass_promtool_and_use_sloths_names(tmp_path: Path) -> None:
    output = write_rules(tmp_path)
    checked = promtool("check", "rules", str(output))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 51 rules found" in checked.stdout

    groups = yaml.safe_load(output.read_text())["groups"]
    records = [r for g in groups for r in g["rules"] if "record" in r]
    availability = [r["record"] for r in records if r["labels"]["sloth_slo"] == "availability"]
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "28d"):
        assert f"slo:sli_error:ratio_rate{window}" in availability
    for meta in ("slo:objective:ratio", "slo:error_budget:ratio", "slo:time_period:days",
                 "slo:current_burn_rate:ratio", "slo:period_burn_rate:ratio",
                 "slo:period_error_budget_remaining:ratio"):  # fmt: skip
        assert meta in availability
    five = next(r for r in records if r["record"] == "slo:sli_error:ratio_rate5m")
    assert five["expr"] == (
        '(sum(rate(http_requests_total{job="shop",status=~"5.."}[5m]))) / '
        '(sum(rate(http_requests_total{job="shop"}[5m])))'
    )
    assert five["labels"] == {
        "sloth_id": "shop-availability", "sloth_service": "shop",
        "sloth_slo": "availability", "sloth_window": "5m",
    }  # fmt: skip
    latency = next(r for r in records if r["labels"]["sloth_id"] == "shop-latency")
    assert 'le=~"1\\\\.0|1"' in latency["expr"]  # Python's and Go's spellings of 1s
    assert 'le="+Inf"' in latency["expr"]
    alerts = [r for g in groups for r in g["rules"] if "alert" in r]
    pyrra = [a for a in alerts if a["labels"]["slo"] == "latency"]
    assert [(a["labels"]["long"], a["for"]) for a in pyrra] == [
        ("1h", "2m"), ("6h", "15m"), ("1d", "1h"), ("4d", "3h"),
    ]  # fmt: skip
    assert {a["labels"]["severity"] for a in alerts} == {"page", "ticket"}


def test_compressed_windows_name_the_windows_they_use(tmp_path: Path) -> None:
    settings = SloSettings.model_validate(
        {"compress": 60, "objectives": [{"name": "a", "target": 0.999}]}
    )
    ruleset = rules("shop", settings, interval=0.5)
    names = [r["record"] for r in ruleset.records]
    assert "slo:sli_error:ratio_rate5s" in names
    assert "slo:sli_error:ratio_rate1m" in names
    assert "slo:sli_error:ratio_rate11h12m" in names  # 28d / 60
    assert {g["interval"] for g in ruleset.groups} == {"500ms"}


def test_promtool_unit_test_fires_the_page_alert_when_the_maths_says(tmp_path: Path) -> None:
    # The page tier alone, so that an hour of clean history is enough (fast to evaluate).
    text = "version: 1\nservice: shop\nselector: {job: shop}\nobjectives:\n" \
           "  - {name: availability, target: 0.999, windows: [{burn: 14.4, long: 1h, " \
           "short: 5m, severity: page}]}\n"  # fmt: skip
    output = write_rules(tmp_path, text)
    page: dict[str, Any] = next(
        a for a in yaml.safe_load(output.read_text())["groups"][2]["rules"]
        if a["labels"]["long"] == "1h"
    )  # fmt: skip
    clean = 120  # minutes, more than the long window
    series = [
        {"series": 'http_requests_total{job="shop",status="200"}',
         "values": f"0+1000x{clean} {clean * 1000 + 950}+950x100"},
        {"series": 'http_requests_total{job="shop",status="500"}',
         "values": f"0+0x{clean} 50+50x100"},
    ]  # fmt: skip
    expected_labels = {"alertname": "ErrorBudgetBurn", **page["labels"]}
    expected_labels.update(sloth_id="shop-availability", sloth_service="shop")
    expected_labels["sloth_slo"] = "availability"
    tests = {
        "rule_files": [str(output)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {
                        "eval_time": f"{clean + 17}m",
                        "alertname": "ErrorBudgetBurn",
                        "exp_alerts": [],
                    },
                    {
                        "eval_time": f"{clean + 19}m",
                        "alertname": "ErrorBudgetBurn",
                        "exp_alerts": [
                            {"exp_labels": expected_labels, "exp_annotations": page["annotations"]}
                        ],
                    },
                ],
            }
        ],
    }
    test_file = tmp_path / "test.yml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_cli_prints_json_and_refuses_bad_files(tmp_path: Path) -> None:
    (tmp_path / "slos.yaml").write_text(SLOS)
    result = CliRunner().invoke(app, ["slo", "rules", str(tmp_path / "slos.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["groups"]) == 9
    summary = CliRunner().invoke(
        app, ["slo", "rules", str(tmp_path / "slos.yaml"), "-o", str(tmp_path / "r.yml"),
              "--json"],
    )  # fmt: skip
    report = json.loads(summary.output)
    assert report["objectives"] == ["availability", "latency", "custom"]
    assert report["written"] == str(tmp_path / "r.yml")

    (tmp_path / "bad.yaml").write_text("version: 1\nservice: shop\nobjectives:\n  - {name: a}\n")
    bad = CliRunner().invoke(app, ["slo", "rules", str(tmp_path / "bad.yaml")])
    assert bad.exit_code == 2
    message = f"{tmp_path / 'bad.yaml'}:4: objectives[0].target: required field is missing"
    assert message in " ".join(bad.output.split())  # the console wraps long lines
    (tmp_path / "plan.yaml").write_text(
        "version: 1\nservice: shop\ntarget: {type: process, root: ., command: [x]}\n"
        "steps: [{promote: }]\n"
    )
    none = CliRunner().invoke(app, ["slo", "rules", str(tmp_path / "plan.yaml")])
    assert none.exit_code == 2
    assert "the plan has no SLO objectives" in " ".join(none.output.split())


@pytest.mark.parametrize("interval", ["0.5x", "-1s"])
def test_a_bad_interval_is_refused(tmp_path: Path, interval: str) -> None:
    (tmp_path / "slos.yaml").write_text(SLOS)
    result = CliRunner().invoke(
        app, ["slo", "rules", str(tmp_path / "slos.yaml"), "--interval", interval]
    )
    assert result.exit_code == 2
    assert "--interval" in result.output
