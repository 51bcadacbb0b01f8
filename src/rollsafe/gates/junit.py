"""Read a JUnit XML report, whichever tool wrote it.

One reader for the variants in use: pytest (``<testsuites><testsuite name="pytest">``,
or a bare ``<testsuite>`` from older versions), jest-junit (``<testsuites name="jest
tests">``), go-junit-report (``<properties>`` and ``<testsuite>`` per package, nested
suites in some versions) and Maven Surefire (``<flakyFailure>`` for a test that passed
on its own re-run). Every ``<testcase>`` anywhere under the root counts; its outcome
is ``error`` or ``failed`` if it has an ``<error>`` or ``<failure>`` child, ``skipped``
for ``<skipped>``, else ``passed``.

A missing, empty, oversized or malformed file raises `TestReportError` naming
``file:line:column``: a gate that cannot read its report fails, it never passes.
Documents with a DOCTYPE are refused: a test report has no use for entities, and
refusing them keeps entity expansion out of the controller.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rollsafe.errors import TestReportError

MAX_REPORT_BYTES = 64 * 1024 * 1024
"""A larger report is refused rather than read into the controller's memory."""

Outcome = Literal["passed", "failed", "error", "skipped"]
FAILING: frozenset[str] = frozenset({"failed", "error"})


@dataclass(frozen=True)
class TestCase:
    """One ``<testcase>``: who it is and how it ended in this run."""

    __test__ = False  # not a pytest test class, whatever its name says

    classname: str
    name: str
    outcome: Outcome
    file: str = ""
    message: str = ""
    """The failure's or error's ``message`` (or the first line of its text), bounded."""
    seconds: float = 0.0
    flaky: bool = False
    """The tool itself saw it fail and then pass (Surefire's ``<flakyFailure>``)."""

    @property
    def id(self) -> str:
        """``classname::name``, or the name alone when the report gives no classname."""
        return f"{self.classname}::{self.name}" if self.classname else self.name

    @property
    def failing(self) -> bool:
        return self.outcome in FAILING


@dataclass(frozen=True)
class JUnitReport:
    path: str
    cases: tuple[TestCase, ...]

    def outcomes(self) -> dict[str, TestCase]:
        """Each test id once; when an id appears twice, a failing case wins over a passing one."""
        merged: dict[str, TestCase] = {}
        for case in self.cases:
            seen = merged.get(case.id)
            if seen is None or (case.failing and not seen.failing):
                merged[case.id] = case
        return merged


def read_junit(path: Path) -> JUnitReport:
    """Parse the report at ``path``; `TestReportError` for anything that is not one."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise TestReportError(f"{path}: the JUnit report is not a regular file")
        if size > MAX_REPORT_BYTES:
            raise TestReportError(
                f"{path}: the JUnit report is {size} bytes, more than {MAX_REPORT_BYTES}"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise TestReportError(
            f"{path}: no JUnit report: the test command did not write one"
        ) from None
    except OSError as error:
        raise TestReportError(f"{path}: cannot read the JUnit report: {error}") from None
    return parse_junit(data, str(path))


def parse_junit(data: bytes, source: str = "<junit>") -> JUnitReport:
    """Parse report bytes; ``source`` names the file in errors."""
    if not data.strip():
        raise TestReportError(f"{source}:1:1: the JUnit report is empty")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        line = data[: max(data.find(b"<!DOCTYPE"), data.find(b"<!ENTITY"))].count(b"\n") + 1
        raise TestReportError(f"{source}:{line}: a JUnit report may not declare a DOCTYPE")
    try:
        root = ET.fromstring(data)  # noqa: S314 - DOCTYPEs (and so entities) refused above
    except ET.ParseError as error:
        line, column = error.position
        reason = str(error).split(":")[0]
        where = f"{source}:{line}:{column + 1}"
        raise TestReportError(f"{where}: not well-formed XML: {reason}") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise TestReportError(
            f"{source}:1: the root element is <{root.tag}>, not <testsuites> or <testsuite>: "
            "is this a JUnit XML report?"
        )
    return JUnitReport(source, tuple(_case(element) for element in _testcases(root)))


def _testcases(root: ET.Element) -> Iterable[ET.Element]:
    return root.iter("testcase")


def _case(element: ET.Element) -> TestCase:
    children = {child.tag: child for child in element}
    outcome: Outcome = "passed"
    detail: ET.Element | None = None
    if "error" in children:
        outcome, detail = "error", children["error"]
    elif "failure" in children:
        outcome, detail = "failed", children["failure"]
    elif "skipped" in children:
        outcome, detail = "skipped", children["skipped"]
    flaky = "flakyFailure" in children or "flakyError" in children
    return TestCase(
        classname=element.get("classname", "").strip(),
        name=element.get("name", "").strip() or "(unnamed)",
        outcome=outcome,
        file=element.get("file", ""),
        message=_message(detail),
        seconds=_seconds(element.get("time")),
        flaky=flaky,
    )


def _message(detail: ET.Element | None) -> str:
    if detail is None:
        return ""
    text = detail.get("message") or (detail.text or "").strip().split("\n")[0]
    return text[:500]


def _seconds(value: str | None) -> float:
    try:
        return float((value or "0").replace(",", ""))
    except ValueError:
        return 0.0
