"""The quarantine file: tests that run and are reported but do not count against a gate.

One test id a line (``classname::name``, or a bare name), ``#`` starts a comment.
rollsafe only ever appends to it (a flaky test it detected, with a comment saying
when and where), so a team can review, keep or delete each line in version control.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from rollsafe.errors import TestReportError

MAX_QUARANTINE_BYTES = 1024 * 1024


def read_quarantine(path: Path | None) -> list[str]:
    """The ids listed in ``path``; none when there is no such file yet."""
    if path is None or not path.exists():
        return []
    try:
        if path.stat().st_size > MAX_QUARANTINE_BYTES:
            limit = MAX_QUARANTINE_BYTES
            raise TestReportError(f"{path}: quarantine file larger than {limit} bytes")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TestReportError(f"{path}: cannot read the quarantine file: {error}") from None
    entries = []
    for line in text.splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            entries.append(entry)
    return entries


def add_to_quarantine(path: Path, ids: Iterable[str], *, why: str) -> list[str]:
    """Append the ids not listed yet; returns those added."""
    listed = set(read_quarantine(path))
    new = [test_id for test_id in dict.fromkeys(ids) if test_id not in listed]
    if not new:
        return []
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as file:
        for test_id in new:
            file.write(f"{test_id}  # flaky: {why}, {stamp}\n")
    return new
