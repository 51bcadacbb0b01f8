"""The JUnit reader over the report shapes real tools write, and over reports that are not.

The pytest report is written by a real pytest run; the jest-junit, go-junit-report and
Surefire reports are samples in each tool's documented shape.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rollsafe.errors import TestReportError
from rollsafe.gates.junit import parse_junit, read_junit

JEST = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="jest tests" tests="3" failures="1" errors="0" time="1.2">
  <testsuite name="cart" errors="0" failures="1" skipped="1" time="1.1" tests="3">
    <testcase classname="cart adds an item" name="cart adds an item" time="0.01"></testcase>
    <testcase classname="cart totals" name="cart totals" time="0.2">
      <failure>Error: expect(received).toBe(expected)
    at Object.&lt;anonymous&gt; (cart.test.js:10:5)</failure>
    </testcase>
    <testcase classname="cart later" name="cart later" time="0"><skipped/></testcase>
  </testsuite>
</testsuites>
"""

GO = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="3" failures="1">
\t<testsuite name="example.com/shop" tests="3" failures="1" errors="0" id="0" time="0.010">
\t\t<properties><property name="go.version" value="go1.22.0"></property></properties>
\t\t<testcase name="TestAdd" classname="example.com/shop" time="0.000"></testcase>
\t\t<testcase name="TestTotal" classname="example.com/shop" time="0.000">
\t\t\t<failure message="Failed" type="">shop_test.go:12: got 3, want 4</failure>
\t\t</testcase>
\t\t<testcase name="TestLater" classname="example.com/shop" time="0.000">
\t\t\t<skipped message="shop_test.go:20: later"></skipped>
\t\t</testcase>
\t</testsuite>
</testsuites>
"""

SUREFIRE = b"""<testsuite name="com.shop.CartTest" tests="2" failures="0" errors="1">
  <testcase name="adds" classname="com.shop.CartTest" time="0.1">
    <flakyFailure message="expected 1" type="java.lang.AssertionError"/>
  </testcase>
  <testcase name="totals" classname="com.shop.CartTest" time="0.1">
    <error message="NullPointerException" type="java.lang.NullPointerException"/>
  </testcase>
</testsuite>
"""


def test_a_real_pytest_report(tmp_path: Path) -> None:
    (tmp_path / "test_suite.py").write_text(
        "import pytest\n"
        "def test_ok(): pass\n"
        "def test_bad(): assert 1 == 2, 'one is not two'\n"
        "@pytest.mark.skip(reason='later')\n"
        "def test_later(): pass\n"
        "@pytest.fixture\n"
        "def broken(): raise RuntimeError('fixture broke')\n"
        "def test_error(broken): pass\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    junit = tmp_path / "junit.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"],
        cwd=tmp_path,
        env={**os.environ, "PYTEST_ADDOPTS": ""},  # the outer run's options are not the suite's
        capture_output=True,
        check=False,
        timeout=60,
    )
    outcomes = {case.id: case for case in read_junit(junit).cases}
    assert {test_id: case.outcome for test_id, case in outcomes.items()} == {
        "test_suite::test_ok": "passed",
        "test_suite::test_bad": "failed",
        "test_suite::test_later": "skipped",
        "test_suite::test_error": "error",
    }
    assert "one is not two" in outcomes["test_suite::test_bad"].message


def test_jest_junit() -> None:
    report = parse_junit(JEST)
    assert [(c.name, c.outcome) for c in report.cases] == [
        ("cart adds an item", "passed"),
        ("cart totals", "failed"),
        ("cart later", "skipped"),
    ]
    assert report.cases[1].message.startswith("Error: expect(received)")


def test_go_junit_report() -> None:
    report = parse_junit(GO)
    assert [(c.id, c.outcome) for c in report.cases] == [
        ("example.com/shop::TestAdd", "passed"),
        ("example.com/shop::TestTotal", "failed"),
        ("example.com/shop::TestLater", "skipped"),
    ]
    assert report.cases[1].message == "Failed"


def test_surefire_flaky_failure_and_error() -> None:
    report = parse_junit(SUREFIRE)
    adds, totals = report.cases
    assert (adds.outcome, adds.flaky) == ("passed", True)
    assert (totals.outcome, totals.message) == ("error", "NullPointerException")


def test_a_duplicate_id_counts_its_failure() -> None:
    report = parse_junit(
        b"<testsuite><testcase classname='a' name='t'/>"
        b"<testcase classname='a' name='t'><failure/></testcase></testsuite>"
    )
    assert report.outcomes()["a::t"].outcome == "failed"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "report.xml:1:1: the JUnit report is empty"),
        (
            b"<testsuites>\n<testsuite>\n<testcase name='x'>\n</testsuite>",
            "report.xml:4:3: not well-formed XML",
        ),
        (b"<html><body>502</body></html>", "report.xml:1: the root element is <html>"),
        (
            b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "aaaa">]>\n<testsuite/>',
            "report.xml:2: a JUnit report may not declare a DOCTYPE",
        ),
    ],
)
def test_what_is_not_a_report_is_refused_with_file_and_line(
    tmp_path: Path, data: bytes, expected: str
) -> None:
    path = tmp_path / "report.xml"
    path.write_bytes(data)
    with pytest.raises(TestReportError) as caught:
        read_junit(path)
    assert str(caught.value).startswith(str(tmp_path / expected))


def test_a_missing_report_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TestReportError, match="no JUnit report: the test command did not write"):
        read_junit(tmp_path / "nothing.xml")
