"""Calibrate the risk score's weights on a repository's own history.

Which commits were risky is read from the history itself, SZZ-style (Śliwerski,
Zimmermann and Zeller, "When do changes induce fixes?", MSR 2005):

1. a *fix* is a commit whose subject matches ``FIX_PATTERN`` (fix, regression,
   revert, broke, bug, flaky, crash, overflow, "no longer");
2. the lines a fix changed or deleted in code files (not tests) are blamed in the
   fix's parent; the commits that last touched them *introduced* what the fix
   repaired: those are the risky commits (label 1), every other commit 0.

Each non-merge commit is then scored as its own range (``c^..c``) with the same
signals `rollsafe.gates.risk` uses. The rollback history, which a repository does
not hold, is stood in for by its nearest record: how many of the commit's files
were touched by commits a fix had already blamed before it (known at the time).
Coverage is not in the history either; its weight stays as set by hand.

A logistic regression of label on signals (L2-penalised, Newton steps, numpy)
gives one coefficient per factor; negative ones are set to 0 (a factor must not
lower risk), and the positive ones, scaled to the weight left after the fixed
factors, are the calibrated weights. The AUC of the score against the labels,
per factor and combined, says how much each factor and the whole score rank
risky commits above the others. ``bench/risk_calibration.py`` runs this.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from rollsafe.errors import RiskInputError
from rollsafe.gates import git
from rollsafe.gates.risk import CODE_SUFFIXES, FACTORS, collect, is_test_file, signals

FIX_PATTERN = re.compile(
    r"\b(fix(es|ed)?|regress(ion|ions|ed)?|revert(s|ed)?|broke|broken|bugs?|flaky|"
    r"crash(es|ed)?|overflow(s|ed)?|no longer)\b",
    re.IGNORECASE,
)
_OLD_HUNK = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+")
FIXED_FACTORS = ("uncovered_lines", "rollback_history")
"""Factors a repository's history cannot show (coverage at each commit; rollbacks, of
which it holds only a proxy): their weights are kept, not fitted. The proxy's AUC
is still reported."""
MIN_WEIGHT = 5.0
"""Floor for a fitted factor: one the plan author sees in the breakdown must be able
to move the score, even where this history says it predicts nothing."""


@dataclass
class History:
    commits: list[str]
    """Non-merge commits, oldest first."""
    subjects: dict[str, str]
    fixes: list[str]
    introduced_by: dict[str, set[str]] = field(default_factory=dict)
    """Fix commit -> the commits its blamed lines came from."""

    @property
    def risky(self) -> set[str]:
        return set().union(*self.introduced_by.values()) if self.introduced_by else set()


def read_history(repo: Path, *, limit: int = 2000) -> History:
    out = git.git(repo, "log", "--no-merges", "--reverse", "--format=%H%x09%s", f"-n{limit}")
    commits, subjects = [], {}
    for line in out.decode(errors="replace").splitlines():
        sha, _, subject = line.partition("\t")
        commits.append(sha)
        subjects[sha] = subject
    fixes = [sha for sha in commits if FIX_PATTERN.search(subjects[sha])]
    history = History(commits, subjects, fixes)
    known = set(commits)
    for fix in fixes:
        history.introduced_by[fix] = _blame_fix(repo, fix) & known - {fix}
    return history


def _blame_fix(repo: Path, fix: str) -> set[str]:
    """Commits that last touched the lines ``fix`` changed or removed in code files."""
    try:
        span = git.resolve_range(repo, f"{fix}^..{fix}")
    except RiskInputError:  # a root commit has no parent to blame
        return set()
    origins: set[str] = set()
    for change in git.changed_files(repo, span):
        path = change.path
        if change.deleted == 0 or PurePosixPath(path).suffix not in CODE_SUFFIXES:
            continue
        if is_test_file(path):
            continue
        diff = git.git(repo, "diff", "-U0", "--no-color", span.base, span.head, "--", path)
        ranges = []
        for line in diff.split(b"\n"):
            if match := _OLD_HUNK.match(line):
                start, count = int(match[1]), int(match[2] or b"1")
                if count:
                    ranges += ["-L", f"{start},{start + count - 1}"]
        if not ranges:
            continue
        try:
            blame = git.git(repo, "blame", "--porcelain", "-w", *ranges, span.base, "--", path)
        except RiskInputError:  # a path git cannot blame adds no label
            blame = b""
        for line in blame.split(b"\n"):
            head = line.split(b" ", 1)[0]
            if len(head) == 40 and all(c in b"0123456789abcdef" for c in head):
                origins.add(head.decode())
    return origins


def features(
    repo: Path, history: History, critical_paths: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One row of factor signals per commit (FACTORS order) and its label."""
    blamed_files: dict[str, int] = {}
    rows, labels, shas = [], [], []
    risky = history.risky
    fixes_seen: list[str] = []
    fix_positions = {fix: history.commits.index(fix) for fix in history.fixes}
    for position, sha in enumerate(history.commits):
        if position == 0:
            continue
        # What fixes made known before this commit: files of the commits they blamed.
        for fix, at in fix_positions.items():
            if at < position and fix not in fixes_seen:
                fixes_seen.append(fix)
                for origin in history.introduced_by.get(fix, ()):
                    for path in _files_of(repo, origin):
                        blamed_files[path] = blamed_files.get(path, 0) + 1
        span = git.Range(f"{sha}^..{sha}", f"{sha}^", sha)
        files = git.changed_files(repo, span)
        evidence = collect(
            span.text,
            1,
            files,
            critical_paths=critical_paths,
            rollback_counts=blamed_files,
        )
        values = signals(evidence)
        rows.append([values[factor][0] for factor in FACTORS])
        labels.append(1.0 if sha in risky else 0.0)
        shas.append(sha)
    return np.array(rows), np.array(labels), shas


_FILES_CACHE: dict[tuple[Path, str], list[str]] = {}


def _files_of(repo: Path, sha: str) -> list[str]:
    key = (repo, sha)
    if key not in _FILES_CACHE:
        span = git.Range(f"{sha}^..{sha}", f"{sha}^", sha)
        try:
            _FILES_CACHE[key] = [c.path for c in git.changed_files(repo, span)]
        except RiskInputError:  # the root commit
            _FILES_CACHE[key] = []
    return _FILES_CACHE[key]


def fit_logistic(x: np.ndarray, y: np.ndarray, *, penalty: float = 1.0) -> np.ndarray:
    """Coefficients (intercept first) of an L2-penalised logistic regression, by Newton."""
    design = np.hstack([np.ones((x.shape[0], 1)), x])
    beta = np.zeros(design.shape[1])
    ridge = penalty * np.eye(design.shape[1])
    ridge[0, 0] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-design @ beta))
        gradient = design.T @ (y - p) - ridge @ beta
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + ridge
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(beta)), gradient)
        beta += step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta


def auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Probability that a risky commit scores above a safe one (ties count half)."""
    positive, negative = scores[labels == 1], scores[labels == 0]
    if not len(positive) or not len(negative):
        return None
    greater = (positive[:, None] > negative[None, :]).sum()
    ties = (positive[:, None] == negative[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(positive) * len(negative)))


def calibrate(
    x: np.ndarray, y: np.ndarray, prior: dict[str, float], *, penalty: float = 1.0
) -> dict[str, Any]:
    """Weights from the fit, the fixed factors kept at their prior weight; with AUCs."""
    fitted = [f for f in FACTORS if f not in FIXED_FACTORS]
    columns = [FACTORS.index(f) for f in fitted]
    # Standardise so the penalty treats factors alike; then back to per-signal effects.
    subset = x[:, columns]
    scale = subset.std(axis=0)
    scale[scale == 0] = 1.0
    beta = fit_logistic(subset / scale, y, penalty=penalty)[1:] / scale
    effect = np.clip(beta, 0.0, None)
    # A factor that never varied in the history cannot be fitted: keep its prior.
    constant = [f for f, s in zip(fitted, subset.std(axis=0), strict=True) if s == 0]
    kept = {f: prior[f] for f in (*FIXED_FACTORS, *constant)}
    free = 100.0 - sum(kept.values())
    fitted_free = {f: float(e) for f, e in zip(fitted, effect, strict=True) if f not in constant}
    total = sum(fitted_free.values())
    shares = {f: (v / total if total > 0 else 1 / len(fitted_free)) for f, v in fitted_free.items()}
    floor = MIN_WEIGHT / free if free > 0 else 0.0
    floored = [f for f, share in shares.items() if share < floor]
    rest = 1.0 - floor * len(floored)
    above = sum(share for f, share in shares.items() if f not in floored)
    weights = dict(kept)
    for factor, share in shares.items():
        weights[factor] = free * (floor if factor in floored else rest * share / above)
    weights = {f: round(weights[f], 1) for f in FACTORS}
    vector = np.array([weights[f] for f in FACTORS])
    prior_vector = np.array([prior[f] for f in FACTORS])
    return {
        "commits": len(y),
        "risky": int(y.sum()),
        "coefficients": {f: round(float(b), 3) for f, b in zip(fitted, beta, strict=True)},
        "weights": weights,
        "auc": {
            "calibrated": auc(x @ vector, y),
            "prior": auc(x @ prior_vector, y),
            "equal": auc(x.sum(axis=1), y),
            **{f: auc(x[:, FACTORS.index(f)], y) for f in FACTORS},
        },
    }
