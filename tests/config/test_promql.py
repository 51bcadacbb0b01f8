"""The local PromQL syntax check agrees with a real Prometheus (``/api/v1/format_query``).

Plans are checked locally, with no Prometheus at hand; this keeps the local
parser honest on the queries people write and the mistakes they make.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from rollsafe.config.promql import check
from tests.metrics.prometheus_server import Prometheus

VALID = [
    'sum(rate(http_requests_total{job="a",status=~"5.."}[5m])) by (le)',
    "histogram_quantile(0.99, sum by (le) (rate(x_bucket[1m])))",
    "a + on(job) group_left(x) b",
    "a / ignoring(status) group_right b",
    "foo offset 5m",
    "foo offset -5m",
    "max_over_time(rate(foo[1m])[1h:5m])",
    "rate(foo[1h30m])",
    "-1",
    "+foo",
    '{__name__="x",job!="y"}',
    "a and b or c unless d",
    "x > bool 1",
    "a ^ b ^ c",
    "foo @ 1700000000",
    "foo @ start()",
    "topk(3, foo)",
    'count_values("v", foo)',
    "sum without (a, b) (x)",
    "sum(x) without (a,)",
    "time()",
    "NaN",
    "Inf",
    "0x1F",
    "1e3",
    '"a string"',
    "`raw ${string}`",
    "'single'",
    'label_replace(up, "a", "$1", "b", "(.*)")',
    "sum(\n  up  # a comment\n)",
    "instance:cpu:rate5m",
    'absent(nonexistent{job="x"})',
    "quantile(0.9, x)",
    'x{a="b",}',
    "sum by () (x)",
    "x atan2 y",
]
INVALID = [
    "sum(x",
    'x{a="b"',
    "x{a=b}",
    "rat(x[5m])",
    'x{a="b}',
    "x[5]",
    "sum by (le (x)",
    "{}",
    "x +",
    "a b",
    'x{a:b="c"}',
    ")",
    "x[5m",
    "foo offset",
    "foo @",
    'x{a~"b"}',
    "sum(x,)",
    "(x",
    "1 +* 2",
    'x{a="b"}}',
    "x by (a)",
    "sum by (1) (x)",
    "",
    "foo[5m:1m:1m]",
]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    server = Prometheus(tmp_path_factory.mktemp("prometheus"))
    try:
        yield server.start({})
    finally:
        server.stop()


def prometheus_accepts(prometheus: Prometheus, promql: str) -> bool:
    response = httpx.get(
        prometheus.url + "/api/v1/format_query", params={"query": promql}, timeout=5
    )
    assert response.status_code in (200, 400), response.text
    return response.json()["status"] == "success"


def locally_accepted(promql: str) -> bool:
    try:
        check(promql)
    except ValueError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize("promql", VALID + INVALID)
def test_local_check_agrees_with_prometheus(prometheus: Prometheus, promql: str) -> None:
    assert locally_accepted(promql) == prometheus_accepts(prometheus, promql)
    assert locally_accepted(promql) == (promql in VALID)


def test_errors_name_the_character_and_what_was_expected() -> None:
    with pytest.raises(
        ValueError, match=r"at character 15: expected ',' or '\)', found 'by'"
    ) as caught:
        check('sum(foo{a=""} by (a))')
    assert "PromQL syntax error" in str(caught.value)
    with pytest.raises(ValueError, match="unterminated string at character 5"):
        check('x{a="b}')
    with pytest.raises(ValueError, match="unexpected character '!' at character 2"):
        check("x!")
