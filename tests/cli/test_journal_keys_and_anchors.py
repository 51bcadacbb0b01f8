"""A keyed chain and an external anchor catch what a plain chain cannot: a full rewrite."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from rollsafe.errors import PlanError
from rollsafe.journal.chain import canonical_json
from rollsafe.journal.keys import KEY_FILE_ENV, configured_key
from rollsafe.store import SqliteStore
from tests.cli.conftest import Run


def rewrite_everything(db_path: Path, actor: str = "mallory") -> None:
    """What someone with write access to the store can do: edit entries, then recompute
    every plain SHA-256 link and the head, as rollsafe itself computes them."""
    db = sqlite3.connect(db_path)
    with db:
        rows = db.execute(
            "SELECT seq, ts, kind, rollout_id, data FROM journal ORDER BY seq"
        ).fetchall()
        prev = "0" * 64
        for seq, ts, kind, rollout_id, data in rows:
            body = {"seq": seq, "ts": ts, "kind": kind, "actor": actor,
                    "rollout_id": rollout_id, "data": json.loads(data)}  # fmt: skip
            digest = hashlib.sha256((prev + canonical_json(body)).encode()).hexdigest()
            db.execute(
                "UPDATE journal SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (actor, prev, digest, seq),
            )
            prev = digest
        db.execute("UPDATE journal_head SET hash = ? WHERE id = 1", (prev,))
    db.close()


def key_file(tmp_path: Path, name: str = "journal.key", text: str = "k" * 32) -> Path:
    path = tmp_path / name
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def flag_changes(rollsafe: Run, *percents: str, env: dict[str, str] | None = None) -> None:
    for percent in percents:
        result = rollsafe("flags", "set", "checkout", "--rollout", percent, env=env)
        assert result.returncode == 0, result.stderr


def test_an_anchor_catches_a_full_rewrite_that_verify_alone_passes(
    tmp_path: Path, rollsafe: Run
) -> None:
    flag_changes(rollsafe, "10", "50")
    anchor = tmp_path / "elsewhere" / "anchor.json"
    anchor.parent.mkdir()
    taken = rollsafe("journal", "anchor", str(anchor))
    assert taken.returncode == 0, taken.stderr
    assert json.loads(anchor.read_text())["seq"] == 2
    flag_changes(rollsafe, "100")
    assert rollsafe("journal", "verify", "--anchor", str(anchor)).returncode == 0

    rewrite_everything(tmp_path / "home" / "rollsafe.db")
    plain = rollsafe("journal", "verify")
    assert plain.returncode == 0  # the weakness: a consistent rewrite passes the chain
    anchored = rollsafe("journal", "verify", "--anchor", str(anchor))
    assert anchored.returncode == 1
    assert "entry 2 is not the one anchored" in anchored.stdout.replace("\n", " ")


def test_an_anchor_catches_deleted_entries(tmp_path: Path, rollsafe: Run) -> None:
    flag_changes(rollsafe, "10", "50")
    printed = rollsafe("journal", "anchor", "-")
    (tmp_path / "anchor.json").write_text(printed.stdout)
    db = sqlite3.connect(tmp_path / "home" / "rollsafe.db")
    with db:
        head = db.execute("SELECT hash FROM journal WHERE seq = 1").fetchone()[0]
        db.execute("DELETE FROM journal WHERE seq = 2")
        db.execute("UPDATE journal_head SET seq = 1, hash = ? WHERE id = 1", (head,))
    db.close()
    assert rollsafe("journal", "verify").returncode == 0
    anchored = rollsafe("journal", "verify", "--anchor", str(tmp_path / "anchor.json"))
    assert anchored.returncode == 1
    assert "ends at entry 1, before entry 2" in anchored.stdout.replace("\n", " ")


def test_a_bad_anchor_file_is_a_usage_error(tmp_path: Path, rollsafe: Run) -> None:
    flag_changes(rollsafe, "10")
    (tmp_path / "anchor.json").write_text('{"seq": 1}')
    result = rollsafe("journal", "verify", "--anchor", str(tmp_path / "anchor.json"))
    assert result.returncode == 2
    assert "not a journal anchor" in result.stderr


def test_a_keyed_chain_cannot_be_rewritten_without_the_key(tmp_path: Path, rollsafe: Run) -> None:
    env = {KEY_FILE_ENV: str(key_file(tmp_path))}
    flag_changes(rollsafe, "10", "50", env=env)
    verified = rollsafe("journal", "verify", env=env)
    assert verified.returncode == 0, verified.stdout
    assert "2 entries, chain verified, 2 keyed" in verified.stdout

    rewrite_everything(tmp_path / "home" / "rollsafe.db")
    rewritten = rollsafe("journal", "verify", env=env)
    assert rewritten.returncode == 1
    assert "entries 1-2 have plain hashes" in rewritten.stdout.replace("\n", " ")


def test_a_keyed_journal_needs_the_right_key(tmp_path: Path, rollsafe: Run) -> None:
    env = {KEY_FILE_ENV: str(key_file(tmp_path))}
    flag_changes(rollsafe, "10", env=env)
    keyless = rollsafe("flags", "set", "checkout", "--rollout", "20")
    assert keyless.returncode == 2  # a writer without the key would break the chain
    assert "the journal is keyed" in keyless.stderr
    assert rollsafe("journal", "verify", env=env).returncode == 0
    unkeyed = rollsafe("journal", "verify")
    assert unkeyed.returncode == 1
    assert "entry 1 is keyed: set ROLLSAFE_JOURNAL_KEY_FILE" in unkeyed.stdout.replace("\n", " ")
    other = {KEY_FILE_ENV: str(key_file(tmp_path, "other.key", "o" * 32))}
    wrong = rollsafe("journal", "verify", env=other)
    assert wrong.returncode == 1
    assert "not the one it was written with" in wrong.stdout.replace("\n", " ")


def test_an_unkeyed_journal_keeps_verifying_and_can_become_keyed(
    tmp_path: Path, rollsafe: Run
) -> None:
    flag_changes(rollsafe, "10", "20")  # written before any key
    assert rollsafe("journal", "verify").returncode == 0
    env = {KEY_FILE_ENV: str(key_file(tmp_path))}
    flag_changes(rollsafe, "30", env=env)
    refused = rollsafe("journal", "verify", env=env)
    assert refused.returncode == 1
    assert "--unkeyed 2" in refused.stdout.replace("\n", " ")
    accepted = rollsafe("journal", "verify", "--unkeyed", "2", env=env)
    assert accepted.returncode == 0, accepted.stdout
    assert "3 entries, chain verified, 1 keyed" in accepted.stdout

    # A plain entry after a keyed one is a rewrite, whatever --unkeyed says.
    db = sqlite3.connect(tmp_path / "home" / "rollsafe.db")
    hashes = [row[0] for row in db.execute("SELECT hash FROM journal ORDER BY seq")]
    db.close()
    assert [h.startswith("hmac-sha256:") for h in hashes] == [False, False, True]
    rewrite_everything(tmp_path / "home" / "rollsafe.db")
    again = rollsafe("journal", "verify", "--unkeyed", "2", env=env)
    assert again.returncode == 1


@pytest.mark.parametrize(
    ("mode", "text", "message"),
    [
        (0o644, "k" * 32, "readable by other users; chmod 600"),
        (0o600, "short", "shorter than 16 bytes"),
    ],
)
def test_a_weak_key_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int, text: str, message: str
) -> None:
    path = key_file(tmp_path, f"key-{mode:o}-{len(text)}", text)
    path.chmod(mode)
    monkeypatch.setenv(KEY_FILE_ENV, str(path))
    with pytest.raises(PlanError, match=message):
        configured_key()
    with pytest.raises(PlanError):  # and nothing is appended with a bad key
        SqliteStore(tmp_path / "state.db").append("x", {}, actor="t")


def test_the_cli_refuses_a_missing_key_file_before_writing(tmp_path: Path, rollsafe: Run) -> None:
    result = rollsafe("flags", "set", "x", "--off", env={KEY_FILE_ENV: str(tmp_path / "none")})
    assert result.returncode == 2
    assert "cannot read the journal key" in result.stderr
    assert not (tmp_path / "home").exists()
