"""Line coverage from a Cobertura ``coverage.xml`` (coverage.py's ``coverage xml``, Jest's
``cobertura`` reporter, gocover-cobertura).

Only what the risk score needs: per file, the lines the tests executed and those
they did not. Lines the report does not list (blank, comments) are not code and
are neither. File names in the report are relative to one of its ``<source>``
directories; `Coverage.lookup` finds a repository path by the longest common
tail, so ``src/shop/cart.py`` in git matches ``shop/cart.py`` under a ``src`` source.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from rollsafe.errors import RiskInputError

MAX_COVERAGE_BYTES = 128 * 1024 * 1024


@dataclass
class FileCoverage:
    covered: set[int] = field(default_factory=set)
    missed: set[int] = field(default_factory=set)


@dataclass
class Coverage:
    files: dict[str, FileCoverage]

    def lookup(self, repo_path: str) -> FileCoverage | None:
        """The report's entry for a path in the repository, if it measured that file."""
        if repo_path in self.files:
            return self.files[repo_path]
        best: tuple[int, FileCoverage | None] = (0, None)
        for name, lines in self.files.items():
            if repo_path.endswith("/" + name) or name.endswith("/" + repo_path):
                length = min(len(name), len(repo_path))
                if length > best[0]:
                    best = (length, lines)
        return best[1]


def read_cobertura(path: Path) -> Coverage:
    """Parse ``path``; `RiskInputError` naming ``file:line`` when it is not a Cobertura report."""
    try:
        if path.stat().st_size > MAX_COVERAGE_BYTES:
            raise RiskInputError(f"{path}: larger than {MAX_COVERAGE_BYTES} bytes")
        data = path.read_bytes()
    except FileNotFoundError:
        raise RiskInputError(f"{path}: no such coverage report") from None
    except OSError as error:
        raise RiskInputError(f"{path}: cannot read the coverage report: {error}") from None
    if b"<!DOCTYPE" in data[:4096] and b"<!ENTITY" in data:
        raise RiskInputError(f"{path}: a coverage report may not declare entities")
    try:
        root = ET.fromstring(data)  # noqa: S314 - entity declarations refused above
    except ET.ParseError as error:
        line, column = error.position
        raise RiskInputError(f"{path}:{line}:{column + 1}: not well-formed XML") from None
    if root.tag != "coverage":
        raise RiskInputError(
            f"{path}:1: the root element is <{root.tag}>, not Cobertura's <coverage>"
        )
    files: dict[str, FileCoverage] = {}
    for cls in root.iter("class"):
        name = cls.get("filename")
        if not name:
            continue
        entry = files.setdefault(name.replace("\\", "/").removeprefix("./"), FileCoverage())
        for row in cls.iter("line"):
            try:
                number, hits = int(row.get("number", "")), int(row.get("hits", "0"))
            except ValueError:
                continue
            (entry.covered if hits > 0 else entry.missed).add(number)
    for entry in files.values():
        entry.missed -= entry.covered  # a line two classes list is covered if either ran it
    return Coverage(files)
