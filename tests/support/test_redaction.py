"""One redactor for every form of database address, malformed ones included."""

from __future__ import annotations

import random

import pytest
from psycopg.conninfo import conninfo_to_dict
from pydantic import ValidationError

from rollsafe.config.backup_sources import PostgresBackupSource
from rollsafe.support.redaction import ambiguous_credentials, is_postgres_url, redacted

PASSWORD = "Zq9-s3cret-Kx7"


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        # URLs, well formed
        (f"postgresql://app:{PASSWORD}@db:5432/shop", "postgresql://app@db:5432/shop"),
        (f"postgres://app:{PASSWORD}@db/shop", "postgres://app@db/shop"),
        (f"postgresql://:{PASSWORD}@db/shop", "postgresql://db/shop"),
        ("postgresql://app@db/shop", "postgresql://app@db/shop"),
        ("postgresql:///shop", "postgresql:///shop"),
        (f"postgresql://db/shop?password={PASSWORD}", "postgresql://db/shop"),
        (
            f"postgresql://db/shop?sslmode=require&password={PASSWORD}&application_name=x",
            "postgresql://db/shop?sslmode=require",  # what follows may be the password's rest
        ),
        ("postgresql://db/shop?password=Zq9&s3cret&Kx7", "postgresql://db/shop"),
        (f"postgresql://db/shop?sslpassword={PASSWORD}", "postgresql://db/shop"),
        (f"postgresql://db/shop?pass%77ord={PASSWORD}", "postgresql://db/shop"),
        # URLs libpq cannot parse (its error would quote them whole)
        (f"postgresql://app:{PASSWORD}@[::1/shop", "postgresql://app@[::1/shop"),
        (f"postgresql://app:{PASSWORD}%zz@db/shop", "postgresql://app@db/shop"),
        ("postgresql://app:Zq9@s3cret-Kx7@db/shop", "postgresql://app@db/shop"),
        ("postgresql://app:Zq9/s3cret?Kx7@db/shop", "postgresql://app@db/shop"),
        ("postgresql://db:5432/shop?password=Zq9@Kx7", "postgresql://db:5432/shop"),
        (f"POSTGRESQL://app:{PASSWORD}@db/shop", "POSTGRESQL://app@db/shop"),
        # key=value connection strings
        (f"host=db dbname=shop password={PASSWORD}", "host=db dbname=shop"),
        (f"password={PASSWORD} host=db", "host=db"),
        (f"host=db password = '{PASSWORD} x\\' y' dbname=shop", "host=db dbname=shop"),
        (f"host=db sslpassword={PASSWORD} user=app", "host=db user=app"),
        (f"host=db password='{PASSWORD} unterminated", "host=db"),
        ("host=db password=Zq9 s3cret Kx7 dbname=shop", "host=db dbname=shop"),
        # paths
        ("/var/lib/rollsafe/rollsafe.db", "/var/lib/rollsafe/rollsafe.db"),
        ("state/my password.db", "state/my password.db"),
    ],
)
def test_every_form_loses_its_password(address: str, shown: str) -> None:
    assert redacted(address) == shown
    assert "Zq9" not in redacted(address)
    assert "Kx7" not in redacted(address)


@pytest.mark.parametrize(
    "address",
    [
        "postgresql://app:pw@db/shop",
        "postgresql://db/shop?sslmode=require&options=-csearch_path%3Dx",
        "host=db dbname=shop user=app password=pw",
    ],
)
def test_a_parsable_address_keeps_everything_but_the_password(address: str) -> None:
    expected = {k: v for k, v in conninfo_to_dict(address).items() if k != "password"}
    assert conninfo_to_dict(redacted(address)) == expected


_NASTY = "@/?:&=%[]#' \\"


def test_random_passwords_never_show() -> None:
    rng = random.Random(13)
    templates = [
        "postgresql://app:{}@db:5432/shop",
        "postgresql://:{}@db/shop?sslmode=require",
        "postgresql://db/shop?password={}",
        "postgres://app:{}@[::1]:5432/shop?application_name=x",
        "host=db password='{}' dbname=shop",
    ]
    for _ in range(2000):
        junk = "".join(rng.choice(_NASTY + "ab1") for _ in range(rng.randint(0, 12)))
        template = rng.choice(templates)
        if template.startswith("host="):
            junk = junk.replace("\\", "").replace("'", "\\'")
        shown = redacted(template.format(f"Zq9{junk}Kx7"))
        assert "Zq9" not in shown, (template, junk, shown)
        assert "Kx7" not in shown, (template, junk, shown)


def test_one_rule_for_what_a_postgres_url_is() -> None:
    assert is_postgres_url("postgresql://db/shop")
    assert is_postgres_url("postgres://db/shop")
    # Malformed, still PostgreSQL: refused as such, never taken for a SQLite file name.
    assert is_postgres_url("postgresql://app:pw@[db/shop")
    assert not is_postgres_url("/srv/rollsafe.db")
    assert not is_postgres_url("host=db dbname=shop")
    assert not is_postgres_url(None)


def test_ambiguous_credentials_are_detected() -> None:
    assert ambiguous_credentials("postgresql://app:a@b@db/shop")
    assert ambiguous_credentials("postgresql://app:a/b@db/shop")
    assert not ambiguous_credentials("postgresql://app:a%40b@db/shop")
    assert not ambiguous_credentials("postgresql://db/shop?options=a@b")
    assert not ambiguous_credentials("host=db password=a@b")


@pytest.mark.parametrize(
    "url", ["postgresql://app:a@b@db/shop", "postgresql://app:pw@[db/shop", "postgresql://a b"]
)
def test_a_plan_refuses_what_the_store_refuses(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        PostgresBackupSource(name="db", url=url)  # type: ignore[arg-type]
    (error,) = caught.value.errors()
    assert "must be a PostgreSQL URL" in error["msg"]
    assert url.split("//")[1] not in error["msg"]
