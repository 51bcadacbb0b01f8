"""The regression risk of a change: a 0-100 score from evidence, with its breakdown.

Six factors, each a signal between 0 and 1 from one kind of evidence, times a
weight; the weights sum to 100, so the score is the weighted sum and each
factor's points say how much of it that evidence explains:

- ``churn``: lines added and deleted, ``1 - exp(-lines / 400)``;
- ``critical_paths``: files matching the plan's critical paths, ``1 - 0.5^n``;
- ``uncovered_lines``: changed code lines the coverage report shows no test ran
  (a changed code file the report does not list counts whole), as a share of
  the measurable changed lines, damped for a handful: ``share * (1 - exp(-u / 25))``.
  Without a coverage report the factor scores 0 and says so;
- ``dependencies``: dependency manifests and lock files changed, ``1 - 0.5^n``;
- ``migrations``: schema migrations changed, ``1 - 0.5^n``;
- ``rollback_history``: how often the touched files were in rollouts that rolled
  back (`rollsafe.gates.history`), summed over files: ``1 - 0.5^h``.

The default weights come from ``bench/risk_calibration.py`` (docs/risk.md says how).
Levels: low below 25, medium below 50, high below 75, critical from 75.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from rollsafe.config.risk import RISK_FACTORS
from rollsafe.gates.coverage import Coverage
from rollsafe.gates.git import FileChange

FACTORS = RISK_FACTORS
DEFAULT_WEIGHTS: dict[str, float] = {
    "churn": 32.5,
    "critical_paths": 12.5,
    "uncovered_lines": 15.0,
    "dependencies": 5.0,
    "migrations": 10.0,
    "rollback_history": 25.0,
}
"""Churn, critical paths and dependencies: the mean of ``bench/risk_calibration.py``'s fits
on the histories of rollsafe (39.0, 6.0, 5.0), encode/httpx (38.5, 6.5, 5.0) and
pallets/click (20.0, 25.0, 5.0). Coverage, rollback history and migrations, which no
history shows, are set by hand (docs/risk.md)."""
LEVELS = (("critical", 75.0), ("high", 50.0), ("medium", 25.0), ("low", 0.0))
LEVEL_NAMES = ("low", "medium", "high", "critical")
CHURN_SCALE = 400.0
UNCOVERED_SCALE = 25.0
BINARY_LINES = 50
"""A binary file changed counts as this many lines of churn."""

DEPENDENCY_FILES = (
    "pyproject.toml", "setup.py", "setup.cfg", "requirements*.txt", "requirements*.in",
    "*.lock", "Pipfile", "package.json", "package-lock.json", "npm-shrinkwrap.json",
    "yarn.lock", "pnpm-lock.yaml", "go.mod", "go.sum", "Cargo.toml", "Gemfile",
    "pom.xml", "build.gradle", "build.gradle.kts", "composer.json", "*.csproj",
)  # fmt: skip
"""File names (any directory) whose change is a dependency change."""
MIGRATION_PATHS = (
    "*/migrations/*",
    "migrations/*",
    "*/alembic/versions/*",
    "db/migrate/*",
    "*.sql",
)
"""Paths whose change is a schema migration."""
CODE_SUFFIXES = frozenset(
    (".py", ".js", ".jsx", ".ts", ".tsx", ".mjs", ".go", ".rb", ".java", ".kt", ".rs",
     ".c", ".cc", ".cpp", ".h", ".hpp", ".cs", ".php", ".scala", ".swift")
)  # fmt: skip
_TEST_PATTERNS = ("tests/*", "test/*", "*/tests/*", "*/test/*", "test_*.py", "*_test.py",
                  "*_test.go", "*.test.*", "*.spec.*", "conftest.py")  # fmt: skip


def matches_any(path: str, patterns: Sequence[str]) -> bool:
    """fnmatch patterns where ``*`` also crosses ``/``; a pattern without ``/`` also
    matches the file name alone; one ending in ``/`` matches everything under it."""
    name = PurePosixPath(path).name
    for pattern in patterns:
        if pattern.endswith("/") and path.startswith(pattern):
            return True
        if fnmatch.fnmatchcase(path, pattern):
            return True
        if "/" not in pattern and fnmatch.fnmatchcase(name, pattern):
            return True
    return False


def is_test_file(path: str) -> bool:
    return matches_any(path, _TEST_PATTERNS)


@dataclass
class Evidence:
    """What a range changed and what is known about it: the score's only input."""

    range: str
    commits: int
    files: list[FileChange]
    critical: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    migrations: list[str] = field(default_factory=list)
    uncovered: int | None = None
    """Changed code lines no test ran; None without a coverage report."""
    measurable: int | None = None
    """Changed code lines the coverage could speak about (outside test files)."""
    unmeasured: list[str] = field(default_factory=list)
    """Changed code files the coverage report does not list (counted as uncovered)."""
    rollback_hits: dict[str, int] = field(default_factory=dict)
    """Touched files with the number of past rolled-back rollouts they were in."""

    @property
    def lines(self) -> int:
        return sum(BINARY_LINES if f.binary else f.churn for f in self.files)


def collect(
    span: str,
    commits: int,
    files: list[FileChange],
    *,
    critical_paths: Sequence[str] = (),
    added: Mapping[str, set[int]] | None = None,
    coverage: Coverage | None = None,
    rollback_counts: Mapping[str, int] | None = None,
    dependency_files: Sequence[str] = DEPENDENCY_FILES,
    migration_paths: Sequence[str] = MIGRATION_PATHS,
) -> Evidence:
    """Evidence from what git says changed, the coverage report and the rollback history."""
    paths = [f.path for f in files]
    evidence = Evidence(
        span,
        commits,
        files,
        critical=[p for p in paths if matches_any(p, critical_paths)],
        dependencies=[p for p in paths if matches_any(p, dependency_files)],
        migrations=[p for p in paths if matches_any(p, migration_paths)],
        rollback_hits={p: n for p in paths if (n := (rollback_counts or {}).get(p, 0)) > 0},
    )
    if coverage is not None:
        uncovered = measurable = 0
        for path, lines in (added or {}).items():
            if PurePosixPath(path).suffix not in CODE_SUFFIXES or is_test_file(path):
                continue
            measured = coverage.lookup(path)
            if measured is None:
                evidence.unmeasured.append(path)
                uncovered += len(lines)
                measurable += len(lines)
                continue
            uncovered += len(lines & measured.missed)
            measurable += len(lines & (measured.missed | measured.covered))
        evidence.uncovered, evidence.measurable = uncovered, measurable
    return evidence


def _halving(count: int) -> float:
    return 1.0 - 0.5**count


def signals(evidence: Evidence) -> dict[str, tuple[float, str]]:
    """Each factor's signal in [0, 1] and, in words, the evidence behind it."""
    lines = evidence.lines
    out: dict[str, tuple[float, str]] = {
        "churn": (
            1.0 - math.exp(-lines / CHURN_SCALE),
            f"{lines} lines changed in {len(evidence.files)} files over {evidence.commits} commits",
        ),
        "critical_paths": (
            _halving(len(evidence.critical)),
            _listing(evidence.critical, "files on critical paths", "no critical path touched"),
        ),
        "dependencies": (
            _halving(len(evidence.dependencies)),
            _listing(evidence.dependencies, "dependency files", "no dependency changed"),
        ),
        "migrations": (
            _halving(len(evidence.migrations)),
            _listing(evidence.migrations, "migrations", "no migration"),
        ),
    }
    if evidence.uncovered is None or evidence.measurable is None:
        out["uncovered_lines"] = (0.0, "no coverage report given: not scored")
    elif evidence.measurable == 0:
        out["uncovered_lines"] = (0.0, "no changed code lines to cover")
    else:
        u, m = evidence.uncovered, evidence.measurable
        why = f"{u} of {m} changed code lines not covered"
        if evidence.unmeasured:
            why += f" ({len(evidence.unmeasured)} changed files not in the report)"
        out["uncovered_lines"] = ((u / m) * (1.0 - math.exp(-u / UNCOVERED_SCALE)), why)
    hits = sum(evidence.rollback_hits.values())
    worst = sorted(evidence.rollback_hits.items(), key=lambda item: -item[1])[:5]
    out["rollback_history"] = (
        _halving(hits),
        f"{len(evidence.rollback_hits)} touched files were in past rollbacks ({hits} times): "
        + ", ".join(f"{p} ({n})" for p, n in worst)
        if hits
        else "no touched file was in a past rollback",
    )
    return out


@dataclass(frozen=True)
class RiskScore:
    score: float
    level: str
    breakdown: list[dict[str, Any]]
    evidence: Evidence

    def to_dict(self) -> dict[str, Any]:
        e = self.evidence
        return {
            "range": e.range,
            "score": self.score,
            "level": self.level,
            "breakdown": self.breakdown,
            "commits": e.commits,
            "files": [f.path for f in e.files][:500],
            "files_total": len(e.files),
            "lines": e.lines,
        }


def level_of(score: float) -> str:
    return next(name for name, floor in LEVELS if score >= floor)


def score(evidence: Evidence, weights: Mapping[str, float] | None = None) -> RiskScore:
    """The score, its level and one breakdown row per factor (largest share first)."""
    weights = normalized(weights or DEFAULT_WEIGHTS)
    rows: list[dict[str, Any]] = []
    total = 0.0
    for factor, (signal, why) in signals(evidence).items():
        total += weights[factor] * signal
        points = weights[factor] * signal
        rows.append(
            {
                "factor": factor,
                "weight": round(weights[factor], 2),
                "signal": round(signal, 3),
                "points": round(points, 1),
                "why": why,
            }
        )
    rows.sort(key=lambda row: (-row["points"], FACTORS.index(row["factor"])))
    total = round(min(100.0, total), 1)
    return RiskScore(total, level_of(total), rows, evidence)


def normalized(weights: Mapping[str, float]) -> dict[str, float]:
    """Weights for every factor (missing ones 0), scaled to sum to 100."""
    unknown = set(weights) - set(FACTORS)
    if unknown:
        raise ValueError(f"unknown risk factors {sorted(unknown)}; known: {', '.join(FACTORS)}")
    full = {factor: float(weights.get(factor, 0.0)) for factor in FACTORS}
    total = sum(full.values())
    if total <= 0 or any(w < 0 for w in full.values()):
        raise ValueError("risk weights must be non-negative with a positive sum")
    return {factor: 100.0 * w / total for factor, w in full.items()}


def _listing(paths: list[str], noun: str, none: str) -> str:
    if not paths:
        return none
    shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    return f"{noun} ({len(paths)}): {shown}"
