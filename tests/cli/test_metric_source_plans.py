"""Plans with a broken metric source are refused by the CLI: exit 2, file:line, no state."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Run

pytestmark = pytest.mark.slow  # starts real service processes

PLAN = """\
version: 1
service: shop
target:
  root: shop
  command: ["{python}", "-m", "http.server", "{port}"]
metrics:
%s
steps:
  - promote:
"""


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        (
            "  provider: prometheus\n  queries:\n"
            "    requests: 'sum(x{release=\"{release}\"}'\n"
            '    errors: \'sum(x{release="{release}",status=~"5.."})\'',
            ":9: metrics.queries.requests: PromQL syntax error at character 27",
        ),
        (
            "  provider: command\n  argv: [fetch]",
            ":6: metrics: argv must use {arm} or {release}",
        ),
        (
            "  provider: http\n  url: 'http://127.0.0.1:1/{arm}'\n"
            "  fields: {requests: 'a..b', errors: c}",
            ":9: metrics.fields.requests: bad JSON path 'a..b' at character 2",
        ),
        (
            "  provider: scrape\n  canary: same\n  baseline: same",
            ":6: metrics: canary and baseline must differ",
        ),
    ],
)
def test_broken_metric_sources_exit_2_and_leave_no_state(
    tmp_path: Path, rollsafe: Run, metrics: str, expected: str
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN % metrics)
    for command in (("plan", "validate"), ("rollout", "start")):
        result = rollsafe(*command, str(plan))
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"{plan}{expected}" in result.stderr.replace("\n", ""), result.stderr
    assert not (tmp_path / "home").exists()
