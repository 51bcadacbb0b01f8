"""The demo shop's instances use the SDK: a change through the flag API reaches them live."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from rollsafe.flags import rollout_feature
from rollsafe.server import BackgroundServer
from tests.demo.servers import write_release
from tests.server.servers import FAST, bearer, free_port, make_tokens

pytestmark = pytest.mark.slow  # starts real service processes


def test_a_flag_change_through_the_api_reaches_a_running_shop(tmp_path: Path) -> None:
    home = tmp_path / "home"
    tokens = make_tokens(home / "rollsafe.db")
    port = free_port()
    with BackgroundServer(home / "rollsafe.db", FAST) as server:
        shop = subprocess.Popen(
            [sys.executable, "-m", "rollsafe.demo.shop",
             "--release-dir", str(write_release(tmp_path, "1.1.0")), "--port", str(port),
             "--db", str(tmp_path / "shop.db"), "--home", str(home), "--log-level", "warning"],
            env={**os.environ, "ROLLSAFE_FLAGS_URL": server.url,
                 "ROLLSAFE_FLAGS_TOKEN": tokens.client},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            body = {"user_id": "u1", "items": [{"product_id": 1, "quantity": 1}]}
            with httpx.Client(base_url=url, timeout=5) as http:
                deadline = time.monotonic() + 20
                while True:
                    assert shop.poll() is None, shop.communicate()
                    try:
                        if http.get("/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        assert time.monotonic() < deadline
                        time.sleep(0.05)
                assert http.post("/checkout", json=body).json()["variant"] == "old"
                api = httpx.Client(base_url=server.url, headers=bearer(tokens.admin), timeout=5)
                created = api.put(
                    "/api/admin/flags/fast-checkout",
                    json={
                        "definition": rollout_feature("fast-checkout", 100),
                        "expected_version": 0,
                    },
                )
                assert created.status_code == 201
                changed_at = time.monotonic()
                while http.post("/checkout", json=body).json()["variant"] != "new":
                    assert time.monotonic() - changed_at < 1, "the change did not arrive in 1 s"
                    time.sleep(0.02)
                assert api.post("/api/admin/flags/fast-checkout/kill").json()["changed"]
                killed_at = time.monotonic()
                while http.post("/checkout", json=body).json()["variant"] != "old":
                    assert time.monotonic() - killed_at < 1, "the kill did not arrive in 1 s"
                    time.sleep(0.02)
                api.close()
        finally:
            shop.terminate()
            shop.communicate(timeout=10)
