"""``rollsafe flags`` and ``rollsafe server token``: the command line over the same store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from rollsafe.flags import Engine
from rollsafe.server import BackgroundServer
from rollsafe.store.sqlite import SqliteStore
from tests.server.servers import FAST, bearer, eventually

SEGMENTED = {
    "version": 1,
    "segments": [
        {"id": 1, "constraints": [{"contextName": "region", "operator": "IN", "values": ["eu"]}]}
    ],
    "features": [
        {
            "name": "checkout",
            "enabled": True,
            "strategies": [
                {
                    "name": "flexibleRollout",
                    "parameters": {"rollout": "50", "stickiness": "userId", "groupId": "c"},
                    "segments": [1],
                }
            ],
        },
        {"name": "search", "enabled": False, "strategies": [{"name": "default"}]},
    ],
}


def rollsafe(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rollsafe", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )


def test_import_inlines_segments_and_export_evaluates_the_same(tmp_path: Path) -> None:
    home = tmp_path / "home"
    source = tmp_path / "unleash.json"
    source.write_text(json.dumps(SEGMENTED))
    imported = rollsafe(home, "flags", "import", "--from-unleash", str(source), "--actor", "bob")
    assert imported.returncode == 0, imported.stderr
    assert "imported 2 flags" in imported.stdout
    exported = rollsafe(home, "flags", "export")
    document: dict[str, Any] = json.loads(exported.stdout)
    assert [f["name"] for f in document["features"]] == ["checkout", "search"]
    original, copy = Engine.from_unleash(SEGMENTED), Engine.from_unleash(document, strict=True)
    for user in range(200):
        for region in ("eu", "us"):
            context = {"userId": f"u{user}", "properties": {"region": region}}
            assert copy.is_enabled("checkout", context) == original.is_enabled("checkout", context)
    store = SqliteStore(home / "rollsafe.db")
    assert {e.actor for e in store.journal() if e.kind == "flag.changed"} == {"bob"}
    assert store.flags_revision() == 1  # one transaction for the whole import
    store.close()


def test_an_invalid_import_names_the_flag_and_field_and_writes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    rollsafe(home, "flags", "set", "existing", "--rollout", "5")
    bad = json.loads(json.dumps(SEGMENTED))
    bad["features"][1]["strategies"][0]["constraints"] = [
        {"contextName": "x", "operator": "NUM_GT", "values": [], "value": "not a number"}
    ]
    source = tmp_path / "bad.json"
    source.write_text(json.dumps(bad))
    result = rollsafe(home, "flags", "import", "--from-unleash", str(source))
    assert result.returncode == 2
    assert "bad.json: feature 'search'" in result.stderr
    assert [f["name"] for f in json.loads(rollsafe(home, "flags", "list", "--json").stdout)] == [
        "existing"
    ]
    not_json = tmp_path / "x.json"
    not_json.write_text("{")
    assert "not JSON" in rollsafe(home, "flags", "import", "--from-unleash", str(not_json)).stderr


def test_kill_turns_a_flag_off_once_and_journals_who(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert rollsafe(home, "flags", "set", "checkout", "--rollout", "25").returncode == 0
    killed = rollsafe(home, "flags", "kill", "checkout", "--actor", "oncall")
    assert "killed: off for everyone (version 2)" in killed.stdout
    assert "already off" in rollsafe(home, "flags", "kill", "checkout").stdout
    flag = json.loads(rollsafe(home, "flags", "get", "checkout").stdout)
    assert (flag["enabled"], flag["updated_by"]) == (False, "oncall")
    assert flag["strategies"][0]["parameters"]["rollout"] == "25"
    assert rollsafe(home, "flags", "kill", "nothing").returncode == 1


def test_a_token_created_on_the_command_line_works_with_its_scope(tmp_path: Path) -> None:
    home = tmp_path / "home"
    created = rollsafe(home, "server", "token", "create", "--scope", "client", "--json")
    assert created.returncode == 0, created.stderr
    token = json.loads(created.stdout)["token"]
    bad = rollsafe(home, "server", "token", "create", "--scope", "root")
    assert bad.returncode == 2
    with BackgroundServer(home / "rollsafe.db", FAST) as server:
        features = httpx.get(f"{server.url}/api/client/features", headers=bearer(token))
        assert features.status_code == 200
        admin = httpx.get(f"{server.url}/api/admin/flags", headers=bearer(token))
        assert admin.status_code == 403
        token_id = json.loads(created.stdout)["id"]
        assert rollsafe(home, "server", "token", "revoke", token_id).returncode == 0
        # Servers trust a verified token for token_cache_ttl (0.5 s here) at most.
        url = f"{server.url}/api/client/features"
        assert eventually(lambda: httpx.get(url, headers=bearer(token)).status_code == 401)
