"""``type: postgres`` backups in plans: they load, and bad ones are refused naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollsafe.config import load_plan
from rollsafe.config.backup_sources import PostgresBackupSource
from rollsafe.errors import BackupError
from tests.config.test_plan_errors import problems, write

PLAN = """\
version: 1
service: shop
target:
  root: shop
  command: ["{python}", "-m", "rollsafe.demo.shop", "--port", "{port}"]
backups:
  - name: files
    type: files
    path: shop/uploads
  - name: orders
    type: postgres
    url_env: ORDERS_DATABASE_URL
    timeout: 5m
steps:
  - backup: {sources: [orders]}
  - promote:
"""
ORDERS_LINE = 10  # the line of `- name: orders`


def test_a_plan_with_a_postgres_backup_loads_without_its_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORDERS_DATABASE_URL", raising=False)
    plan = load_plan(write(tmp_path, PLAN))
    files, orders = plan.backups
    assert files.type == "files"
    assert files.path == tmp_path / "shop/uploads"  # the other kinds still resolve paths
    assert isinstance(orders, PostgresBackupSource)
    assert (orders.url, orders.url_env, orders.timeout) == (None, "ORDERS_DATABASE_URL", 300.0)
    # The variable is read when the source is used, not when the plan loads.
    with pytest.raises(BackupError, match=r"ORDERS_DATABASE_URL \(url_env\) is not set"):
        orders.resolve_url()
    monkeypatch.setenv("ORDERS_DATABASE_URL", "postgresql://app:pw@db:5432/shop")
    assert orders.resolve_url() == "postgresql://app:pw@db:5432/shop"


def test_an_inline_url_loads_and_is_masked_in_dumps(tmp_path: Path) -> None:
    text = PLAN.replace("url_env: ORDERS_DATABASE_URL", "url: postgresql://app:s3cret@db/shop")
    (_, orders) = load_plan(write(tmp_path, text)).backups
    assert isinstance(orders, PostgresBackupSource)
    assert orders.resolve_url() == "postgresql://app:s3cret@db/shop"
    assert "s3cret" not in repr(orders)
    assert "s3cret" not in str(orders.model_dump(mode="json"))


def test_neither_url_nor_url_env_names_the_field(tmp_path: Path) -> None:
    text = PLAN.replace("    url_env: ORDERS_DATABASE_URL\n", "")
    assert problems(tmp_path, text) == [
        f"{tmp_path}/plan.yaml:{ORDERS_LINE}: backups[1].url_env: required unless url is given:"
        " the environment variable holding the database URL (or set url)"
    ]


def test_both_url_and_url_env_is_refused(tmp_path: Path) -> None:
    text = PLAN.replace("    timeout: 5m\n", "    url: postgresql://db/shop\n")
    assert problems(tmp_path, text) == [
        f"{tmp_path}/plan.yaml:12: backups[1].url_env: give url or url_env, not both"
    ]


def test_a_url_that_is_not_postgres_is_refused_without_echoing_it(tmp_path: Path) -> None:
    text = PLAN.replace("url_env: ORDERS_DATABASE_URL", "url: mysql://app:s3cret@db/shop")
    (problem,) = problems(tmp_path, text)
    assert problem.startswith(
        f"{tmp_path}/plan.yaml:12: backups[1].url: must be a PostgreSQL URL like postgresql://"
    )
    assert "s3cret" not in problem


def test_a_bad_environment_variable_name_and_timeout_are_named(tmp_path: Path) -> None:
    text = PLAN.replace("url_env: ORDERS_DATABASE_URL", "url_env: orders-url").replace(
        "timeout: 5m", "timeout: soon"
    )
    found = problems(tmp_path, text)
    assert len(found) == 2
    assert found[0].startswith(f"{tmp_path}/plan.yaml:12: backups[1].url_env: string should match")
    assert found[1].startswith(f"{tmp_path}/plan.yaml:13: backups[1].timeout: must be a duration")


def test_a_misspelt_key_gets_a_suggestion(tmp_path: Path) -> None:
    text = PLAN.replace("url_env: ORDERS_DATABASE_URL", "url_evn: ORDERS_DATABASE_URL")
    assert problems(tmp_path, text) == [
        f"{tmp_path}/plan.yaml:{ORDERS_LINE}: backups[1].url_env: required unless url is given:"
        " the environment variable holding the database URL (or set url)",
        f"{tmp_path}/plan.yaml:12: backups[1].url_evn: unknown key (did you mean 'url_env'?)",
    ]


def test_an_unknown_backup_type_names_the_field(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path, PLAN.replace("type: postgres", "type: mysql"))
    assert problem.startswith(f"{tmp_path}/plan.yaml:{ORDERS_LINE}: backups[1]: input tag 'mysql'")
    assert "'postgres'" in problem


def test_a_section_refused_whole_is_not_echoed_with_its_secret(tmp_path: Path) -> None:
    text = PLAN.replace("type: postgres", "type: mysql").replace(
        "url_env: ORDERS_DATABASE_URL", "url: postgresql://app:s3cret@db/orders"
    )
    (problem,) = problems(tmp_path, text)
    assert "backups[1]" in problem
    assert "s3cret" not in problem
