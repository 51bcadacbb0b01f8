"""Calibration over a real git history made in the test: a fix is blamed back to the
commit that introduced what it fixed, and the fit ranks risky commits first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rollsafe.gates.calibration import auc, calibrate, features, fit_logistic, read_history
from rollsafe.gates.risk import DEFAULT_WEIGHTS, FACTORS
from tests.gates.gitrepo import Repo, lines


def test_a_fix_is_blamed_on_the_commit_that_introduced_the_lines_it_changed(
    tmp_path: Path,
) -> None:
    repo = Repo(tmp_path / "r")
    repo.commit("start", {"app/core.py": lines(10), "README.md": "r\n"})
    bad = repo.commit("core: faster totals", {"app/core.py": lines(10) + "total = 1 / 0\n"})
    safe = repo.commit("docs", {"README.md": "r\nmore\n"})
    fix = repo.commit("core: fix the division by zero", {"app/core.py": lines(10) + "total = 0\n"})
    later = repo.commit("core: more", {"app/core.py": lines(10) + "total = 0\nmore = 1\n"})

    history = read_history(repo.path)

    assert history.fixes == [fix]
    assert history.introduced_by == {fix: {bad}}
    assert history.risky == {bad}
    x, y, shas = features(repo.path, history, ["app/core.py"])
    labels = dict(zip(shas, y, strict=True))
    assert (labels[bad], labels[safe]) == (1.0, 0.0)
    row = dict(zip(FACTORS, x[shas.index(bad)], strict=True))
    assert row["critical_paths"] == 0.5
    # A commit after the fix knows its file was blamed before; the fix itself did not yet.
    at_fix = dict(zip(FACTORS, x[shas.index(fix)], strict=True))
    after = dict(zip(FACTORS, x[shas.index(later)], strict=True))
    assert (at_fix["rollback_history"], after["rollback_history"]) == (0.0, 0.5)


def test_the_fit_weights_the_factor_that_separates_the_labels() -> None:
    rng = np.random.default_rng(7)
    n = 400
    x = rng.uniform(0, 1, size=(n, len(FACTORS)))
    x[:, FACTORS.index("migrations")] = 0.0  # never varies: keeps its prior weight
    logit = -3 + 6 * x[:, FACTORS.index("churn")]
    y = (rng.uniform(0, 1, n) < 1 / (1 + np.exp(-logit))).astype(float)

    result = calibrate(x, y, DEFAULT_WEIGHTS)

    weights = result["weights"]
    assert sum(weights.values()) == pytest.approx(100, abs=0.3)
    assert weights["migrations"] == DEFAULT_WEIGHTS["migrations"]
    assert weights["uncovered_lines"] == DEFAULT_WEIGHTS["uncovered_lines"]
    assert weights["churn"] > 35  # nearly all of the 50 points left to fit
    assert weights["critical_paths"] == weights["dependencies"] == 5.0  # floors
    assert result["auc"]["churn"] > 0.75
    assert result["auc"]["critical_paths"] < 0.6


def test_logistic_fit_and_auc_on_known_answers() -> None:
    x = np.array([[0.0]] * 4 + [[1.0]] * 4)
    y = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0])  # P(y|x=0) = 1/4, P(y|x=1) = 1/2
    beta = fit_logistic(x, y, penalty=0.0)
    assert 1 / (1 + np.exp(-beta[0])) == pytest.approx(0.25)
    assert 1 / (1 + np.exp(-(beta[0] + beta[1]))) == pytest.approx(0.5)
    assert auc(np.array([3.0, 2.0, 1.0]), np.array([1.0, 0.0, 0.0])) == 1.0
    assert auc(np.array([1.0, 1.0]), np.array([1.0, 0.0])) == 0.5
    assert auc(np.array([1.0]), np.array([1.0])) is None
