"""Request counts per token and application in /api/admin/status, and the access log."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from rollsafe.server import BackgroundServer
from rollsafe.server.settings import ServerSettings
from rollsafe.server.usage import MAX_NAMES, OTHER, UNNAMED, Usage
from rollsafe.store.records import TokenRecord, TokenScope
from rollsafe.support.ports import free_port
from tests.server.servers import FAST, Tokens, bearer, make_tokens


def status(url: str, tokens: Tokens) -> dict[str, object]:
    response = httpx.get(f"{url}/api/admin/status", headers=bearer(tokens.admin))
    response.raise_for_status()
    body: dict[str, object] = response.json()
    return body


def test_status_counts_requests_per_token_and_application(
    server: BackgroundServer, tokens: Tokens
) -> None:
    client = {**bearer(tokens.client), "UNLEASH-APPNAME": "checkout"}
    for _ in range(3):
        httpx.get(f"{server.url}/api/client/features", headers=client).raise_for_status()
    httpx.post(
        f"{server.url}/ofrep/v1/evaluate/flags",
        json={},
        headers={**bearer(tokens.client), "appName": "web"},
    ).raise_for_status()
    httpx.get(f"{server.url}/api/client/features")  # no token: not counted
    httpx.get(f"{server.url}/health")  # public: not counted
    body = status(server.url, tokens)
    by_token = {t["name"]: t["requests"] for t in body["requests_by_token"]}  # type: ignore[attr-defined]
    by_app = {a["name"]: a["requests"] for a in body["requests_by_application"]}  # type: ignore[attr-defined]
    assert by_token == {"shop": 4, "ops": 1}  # the status request itself counts
    assert by_app == {"checkout": 3, "web": 1, UNNAMED: 1}


def test_counts_stay_bounded() -> None:
    usage = Usage()
    token = TokenRecord(
        id="t1", name="n", scope=TokenScope.CLIENT, environment="*", sha256="", created_at=0.0,
        created_by="test",
    )  # fmt: skip
    for index in range(MAX_NAMES + 50):
        usage.count(token, {"headers": [(b"unleash-appname", f"app-{index}".encode())]})
    applications = usage.by_application()
    assert len(applications) == MAX_NAMES + 1
    assert applications[0] == {"name": OTHER, "requests": 50}
    assert usage.by_token() == [{"id": "t1", "name": "n", "requests": MAX_NAMES + 50}]


def test_the_access_log_has_a_line_per_request(tmp_path: Path) -> None:
    db = tmp_path / "rollsafe.db"
    tokens = make_tokens(db)
    log = tmp_path / "access.log"
    settings = ServerSettings(**{**FAST.__dict__, "access_log": str(log)})
    with BackgroundServer(db, settings) as server:
        headers = {**bearer(tokens.client), "UNLEASH-APPNAME": "checkout", "User-Agent": "probe/1"}
        httpx.get(f"{server.url}/api/client/features?environment=default", headers=headers)
        httpx.get(f"{server.url}/api/client/features")
    lines = log.read_text().splitlines()
    assert len(lines) == 2, lines
    ok, refused = lines
    assert ok.startswith(
        '127.0.0.1 shop "GET /api/client/features?environment=default HTTP/1.1" 200 '
    )
    assert 'app=checkout ua="probe/1"' in ok
    assert refused.startswith('127.0.0.1 - "GET /api/client/features HTTP/1.1" 401 ')


@pytest.mark.slow
def test_rollsafe_server_access_log_writes_to_stderr(tmp_path: Path) -> None:
    home = tmp_path / "home"
    tokens = make_tokens(home / "rollsafe.db")
    port = free_port()
    command = [sys.executable, "-m", "rollsafe", "--home", str(home), "server", "--port", str(port),
               "--log-level", "warning", "--access-log"]  # fmt: skip
    env = {**os.environ, "COLUMNS": "200"}
    with subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env
    ) as process:
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5)
                    break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline
                    assert process.poll() is None
                    time.sleep(0.05)
            url = f"http://127.0.0.1:{port}/api/client/features"
            assert httpx.get(url, headers=bearer(tokens.client)).status_code == 200
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=15)
    lines = stderr.decode().splitlines()
    assert any(
        line.startswith('127.0.0.1 shop "GET /api/client/features HTTP/1.1" 200') for line in lines
    ), lines
    assert any('"GET /health HTTP/1.1" 200' in line for line in lines), lines


def test_an_unwritable_access_log_file_is_refused_naming_the_option(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "rollsafe", "--home", str(tmp_path / "home"), "server",
               "--access-log-file", str(tmp_path / "missing" / "dir" / "access.log")]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=30, env={**os.environ, "COLUMNS": "200"}
    )
    assert result.returncode == 2, result
    assert "--access-log-file" in result.stderr + result.stdout
