"""``--store`` / ``ROLLSAFE_STORE``: every command works on a PostgreSQL database too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollsafe.store import PostgresStore
from tests.cli.conftest import Run
from tests.store.backends import postgres_schema

PLAN = """\
version: 1
service: svc
target:
  root: {root}
  command: ["{{python}}", "-c", "pass"]
flags:
  - name: feature
guards: []
steps:
  - flag: {{name: feature, rollout: 10}}
  - flag: {{name: feature, rollout: 100}}
  - promote:
"""


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


def test_a_rollout_lives_in_the_database_named_by_store(
    tmp_path: Path, postgres_url: str, rollsafe: Run
) -> None:
    home = tmp_path / "home"
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.format(root=tmp_path / "target"))
    (tmp_path / "target").mkdir()

    started = rollsafe("--store", postgres_url, "rollout", "start", str(plan), "--json", home=home)
    assert started.returncode == 0, started.stderr
    rollout_id = json.loads(started.stdout)["id"]
    assert not (home / "rollsafe.db").exists()  # nothing went to the home's SQLite file

    # The environment variable names the same database for later commands.
    listed = rollsafe("rollout", "list", home=home, env={"ROLLSAFE_STORE": postgres_url})
    assert listed.returncode == 0, listed.stderr
    assert rollout_id in listed.stdout
    verified = rollsafe("journal", "verify", home=home, env={"ROLLSAFE_STORE": postgres_url})
    assert verified.returncode == 0, verified.stdout + verified.stderr

    store = PostgresStore(postgres_url)
    try:
        assert store.get_rollout(rollout_id).state.value == "promoted"
        assert store.get_flag("feature").definition["enabled"] is True
    finally:
        store.close()


def test_flags_set_through_the_option_are_read_through_the_variable(
    tmp_path: Path, postgres_url: str, rollsafe: Run
) -> None:
    home = tmp_path / "home"
    written = rollsafe(
        "--store", postgres_url, "flags", "set", "beta", "--rollout", "25", home=home
    )
    assert written.returncode == 0, written.stderr
    shown = rollsafe("flags", "list", home=home, env={"ROLLSAFE_STORE": postgres_url})
    assert shown.returncode == 0, shown.stderr
    assert "beta" in shown.stdout
    assert "25" in shown.stdout
    # The home's own store never saw it.
    local = rollsafe("flags", "list", home=home)
    assert "beta" not in local.stdout


def test_an_unreachable_database_is_a_clear_error_without_the_password(
    tmp_path: Path, rollsafe: Run
) -> None:
    result = rollsafe(
        "--store", "postgresql://rs:hunter2@127.0.0.1:1/nowhere", "rollout", "list",
        home=tmp_path / "home",
    )  # fmt: skip
    assert result.returncode != 0
    assert "127.0.0.1:1/nowhere" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr


def test_a_missing_sqlite_store_is_named(tmp_path: Path, rollsafe: Run) -> None:
    missing = tmp_path / "elsewhere" / "state.db"
    result = rollsafe("--store", str(missing), "rollout", "list", home=tmp_path / "home")
    assert result.returncode != 0
    assert str(missing) in result.stderr
    assert not missing.exists()  # a read-only command creates nothing
