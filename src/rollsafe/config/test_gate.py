"""The ``test`` step's options: run a test command, read its JUnit XML, gate on the results.

Kept apart from ``plan.py`` so the test gate's vocabulary (pass rate, must-pass
tests, re-runs, quarantine) lives in one place; ``plan.py`` only registers the
step kind.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator

from rollsafe.config.types import Duration, Percent, StrictModel

TEST_PLACEHOLDERS = ("junit", "tests")
"""What a test command may name: ``{junit}`` (the report path rollsafe chooses) and, in
``rerun_command`` only, ``{tests}`` (the failed tests)."""
_TEST_FIELDS = {"classname", "name", "file", "id"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _check_placeholders(argv: list[str], allowed: tuple[str, ...]) -> None:
    for arg in argv:
        for name in _PLACEHOLDER.findall(arg):
            if name not in allowed:
                known = ", ".join("{" + a + "}" for a in allowed)
                raise ValueError(f"unknown placeholder {{{name}}} in {arg!r}; known: {known}")


class TestStep(StrictModel):
    """Run ``command`` (an argv list, never a shell), read the JUnit XML it writes, gate on it.

    The report is ``junit`` (relative to ``cwd``) or, when the command names
    ``{junit}``, a fresh file rollsafe chooses for each run. A report left from an
    earlier run is removed first: a stale report must never pass a gate.
    """

    __test__ = False  # not a pytest test class, whatever its name says

    command: Annotated[list[str], Field(min_length=1)]
    junit: Path | None = None
    """Where the command writes its JUnit XML; unset when ``command`` names ``{junit}``."""
    cwd: Path | None = None
    """Directory the command runs in; relative to the plan's folder. Default: the plan's folder."""
    env: dict[str, str] = Field(default_factory=dict)
    """Added to rollsafe's own environment for the command."""
    timeout: Duration = 600.0
    """Seconds one run may take; a run that takes longer is killed and the gate fails."""
    min_pass_rate: Percent = 100.0
    """Percent of counted tests (not skipped, not quarantined) that must pass (flaky ones pass)."""
    must_pass: list[str] = Field(default_factory=list)
    """Tests that must be in the report and pass, quarantined or not (``classname::name``
    or a bare name)."""
    reruns: Annotated[int, Field(ge=0, le=10)] = 2
    """How many times failed tests run again to tell a flaky test from a failing one."""
    rerun_command: list[str] | None = None
    """Runs only the failed tests, named by ``{tests}``: as a whole argument it becomes one
    argument per test (each written by ``rerun_format``), unless ``rerun_separator`` is set,
    which joins them into one (``-k "{tests}"`` with `` or ``). Unset: re-runs run
    ``command`` again, whole."""
    rerun_format: str = "{classname}::{name}"
    """How one failed test is written for ``{tests}``: from ``{classname}``, ``{name}``,
    ``{file}`` and ``{id}``."""
    rerun_separator: str | None = None
    """Joins the tests into one argument: `` or `` for pytest ``-k``, ``|`` for ``go test
    -run`` or jest ``-t``. Inside a larger argument ``{tests}`` is always joined (by a
    space when unset)."""
    fail_on_flaky: bool = False
    """Count a flaky test as failed (it is always reported)."""
    quarantine: Path | None = None
    """A file of test ids, one a line (``#`` comments): these are run and reported but do not
    count against the gate. Relative to the plan's folder."""
    quarantine_flaky: bool = False
    """Append each newly detected flaky test to ``quarantine`` (needs ``quarantine``)."""

    @model_validator(mode="after")
    def _consistent(self) -> TestStep:
        _check_placeholders(self.command, ("junit",))
        if self.rerun_command is not None:
            if not self.rerun_command:
                raise ValueError("rerun_command must not be empty")
            _check_placeholders(self.rerun_command, TEST_PLACEHOLDERS)
            if not any("{tests}" in arg for arg in self.rerun_command):
                raise ValueError("rerun_command must name {tests}, the failed tests to run")
        uses_placeholder = any("{junit}" in arg for arg in self.command)
        if self.junit is None and not uses_placeholder:
            raise ValueError("give junit: (the report the command writes) or use {junit}")
        if self.junit is not None and uses_placeholder:
            raise ValueError("give junit: or use {junit} in command, not both")
        if self.quarantine_flaky and self.quarantine is None:
            raise ValueError("quarantine_flaky needs quarantine: (the file to append to)")
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(self.rerun_format) if f}
        except ValueError as error:
            raise ValueError(f"rerun_format {self.rerun_format!r}: {error}") from None
        if not fields or not fields <= _TEST_FIELDS:
            raise ValueError(
                f"rerun_format {self.rerun_format!r} may name only "
                "{classname}, {name}, {file} and {id}, and at least one of them"
            )
        return self
