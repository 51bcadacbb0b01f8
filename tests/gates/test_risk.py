"""The risk score of a real git range built in the test, with every factor of the
breakdown asserted against what the range holds."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rollsafe.errors import RiskInputError
from rollsafe.gates.assessment import assess_range
from rollsafe.gates.git import added_lines, changed_files, resolve_range
from rollsafe.gates.risk import DEFAULT_WEIGHTS, level_of
from rollsafe.journal import JournalEntry, Kind
from tests.gates.gitrepo import Repo, lines

COVERAGE = """\
<?xml version="1.0" ?>
<coverage version="7.4" line-rate="0.5">
  <sources><source>{root}/src</source></sources>
  <packages><package name="app"><classes>
    <class name="cart.py" filename="app/cart.py" line-rate="0.5">
      <lines>
{lines}
      </lines>
    </class>
  </classes></package></packages>
</coverage>
"""


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "shop")
    repo.commit(
        "first release",
        {
            "src/app/cart.py": lines(20),
            "src/payments/charge.py": lines(10, "fee"),
            "requirements.txt": "httpx==0.27.0\n",
            "README.md": "shop\n",
        },
        tag="v1",
    )
    repo.commit(
        "cart: discounts",
        {"src/app/cart.py": lines(20) + lines(10, "discount"), "tests/test_cart.py": lines(5)},
    )
    repo.commit(
        "payments and schema",
        {
            "src/payments/charge.py": lines(10, "fee").replace("fee_3 = 3", "fee_3 = 4"),
            "migrations/002_discounts.sql": "ALTER TABLE cart ADD discount INT;\n",
            "requirements.txt": "httpx==0.28.1\n",
            "src/app/new.py": lines(4, "n"),
        },
        tag="v2",
    )
    return repo


def test_what_git_says_the_range_changed(repo: Repo) -> None:
    span = resolve_range(repo.path, "v1..v2")
    changes = {c.path: (c.added, c.deleted) for c in changed_files(repo.path, span)}
    assert changes == {
        "src/app/cart.py": (10, 0),
        "tests/test_cart.py": (5, 0),
        "src/payments/charge.py": (1, 1),
        "migrations/002_discounts.sql": (1, 0),
        "requirements.txt": (1, 1),
        "src/app/new.py": (4, 0),
    }
    added = added_lines(repo.path, span)
    assert added["src/app/cart.py"] == set(range(21, 31))
    assert added["src/payments/charge.py"] == {4}


def test_the_breakdown_of_a_range(repo: Repo, tmp_path: Path) -> None:
    # Lines 21-25 of cart.py ran in the tests, 26-30 did not; new.py is not in the report.
    rows = "\n".join(
        f'        <line number="{n}" hits="{1 if n <= 25 else 0}"/>' for n in range(1, 31)
    )
    coverage = tmp_path / "coverage.xml"
    coverage.write_text(COVERAGE.format(root=repo.path, lines=rows))
    history = [
        JournalEntry(
            seq=1, ts=1.0, kind=Kind.RISK_SCORED, rollout_id="r1", actor="t",
            data={"files": ["src/app/cart.py"]}, prev_hash="", hash="",
        ),
        JournalEntry(
            seq=2, ts=2.0, kind=Kind.ROLLOUT_ROLLED_BACK, rollout_id="r1", actor="t",
            data={}, prev_hash="", hash="",
        ),
    ]  # fmt: skip

    scored = assess_range(
        repo.path,
        "v1..v2",
        critical_paths=["src/payments/"],
        coverage=coverage,
        journal=history,
    )

    rows_by = {row["factor"]: row for row in scored.breakdown}
    assert rows_by["churn"]["why"] == "24 lines changed in 6 files over 2 commits"
    assert rows_by["churn"]["signal"] == round(1 - math.exp(-24 / 400), 3)
    assert rows_by["critical_paths"]["why"] == "files on critical paths (1): src/payments/charge.py"
    assert rows_by["dependencies"]["why"] == "dependency files (1): requirements.txt"
    assert rows_by["migrations"]["why"] == "migrations (1): migrations/002_discounts.sql"
    # cart.py: 5 of 10 changed lines missed; charge.py is not in the report, nor new.py:
    # their changed lines count as uncovered. The test file is not counted.
    assert rows_by["uncovered_lines"]["why"] == (
        "10 of 15 changed code lines not covered (2 changed files not in the report)"
    )
    assert rows_by["rollback_history"]["why"].startswith(
        "1 touched files were in past rollbacks (1 times): src/app/cart.py (1)"
    )
    expected = (
        DEFAULT_WEIGHTS["churn"] * (1 - math.exp(-24 / 400))
        + DEFAULT_WEIGHTS["critical_paths"] * 0.5
        + DEFAULT_WEIGHTS["dependencies"] * 0.5
        + DEFAULT_WEIGHTS["migrations"] * 0.5
        + DEFAULT_WEIGHTS["uncovered_lines"] * (10 / 15) * (1 - math.exp(-10 / 25))
        + DEFAULT_WEIGHTS["rollback_history"] * 0.5
    )
    assert scored.score == round(expected, 1)
    assert scored.level == level_of(scored.score) == "medium"
    assert sum(row["points"] for row in scored.breakdown) == pytest.approx(scored.score, abs=0.3)
    # Largest share first: what explains the score most is read first.
    points = [row["points"] for row in scored.breakdown]
    assert points == sorted(points, reverse=True)


def test_no_coverage_report_scores_nothing_for_coverage_and_says_so(repo: Repo) -> None:
    scored = assess_range(repo.path, "v1..v2")
    row = next(r for r in scored.breakdown if r["factor"] == "uncovered_lines")
    assert (row["points"], row["why"]) == (0.0, "no coverage report given: not scored")


def test_an_empty_range_is_low(repo: Repo) -> None:
    scored = assess_range(repo.path, "v2..v2")
    assert (scored.score, scored.level) == (0.0, "low")


@pytest.mark.parametrize(
    ("span", "message"),
    [
        ("v1", "write it as BASE..HEAD"),
        ("v1...v2", "write it as BASE..HEAD"),
        ("v0..v2", "unknown revision 'v0'"),
        ("v1..--output=x", "'--output=x' is not a revision"),
    ],
)
def test_a_bad_range_is_refused(repo: Repo, span: str, message: str) -> None:
    with pytest.raises(RiskInputError, match=message):
        assess_range(repo.path, span)


def test_a_directory_that_is_no_repository_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RiskInputError, match="not a git repository"):
        assess_range(tmp_path, "v1..v2")


def test_a_malformed_coverage_report_is_refused_with_its_line(repo: Repo, tmp_path: Path) -> None:
    coverage = tmp_path / "coverage.xml"
    coverage.write_text("<coverage>\n<packages>\n</coverage>\n")
    with pytest.raises(RiskInputError, match=r"coverage.xml:3:3: not well-formed XML"):
        assess_range(repo.path, "v1..v2", coverage=coverage)


def test_unknown_weights_are_refused(repo: Repo) -> None:
    with pytest.raises(RiskInputError, match="unknown risk factors"):
        assess_range(repo.path, "v1..v2", weights={"vibes": 10})
