"""The official Node SDK (``unleash-client`` from npm, pinned in tests/server/node/) against
a real ``rollsafe server``: register, metrics with impact metrics, evaluations, streaming.

Skipped, saying why, when ``node``/``npm`` are missing or npm cannot install the
pinned package (no registry access).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from rollsafe.flags import Engine, rollout_feature
from rollsafe.server import BackgroundServer, ServerSettings
from rollsafe.store.sqlite import SqliteStore
from tests.server.servers import StreamReader, Tokens, bearer, in_thread
from tests.server.test_unleash_sdk import FLAGS

pytestmark = pytest.mark.slow

NODE_DIR = Path(__file__).parent / "node"
CONTEXTS = 300
NODE = shutil.which("node") or "node"


@pytest.fixture(scope="module")
def node_check(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """unleash_check.js with the pinned unleash-client installed beside it (``npm ci``)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not on PATH: the Node SDK check needs them")
    work = tmp_path_factory.mktemp("node-sdk")
    for name in ("package.json", "package-lock.json", "unleash_check.js"):
        shutil.copy(NODE_DIR / name, work / name)
    try:
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=work, check=True, capture_output=True, timeout=180,
        )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        output = getattr(error, "stderr", b"") or b""
        pytest.skip(f"npm could not install unleash-client: {output.decode()[-300:]}")
    return work / "unleash_check.js"


def lines(stream: IO[str]) -> Iterator[dict[str, Any]]:
    for line in stream:
        if line.strip():
            yield json.loads(line)


def test_the_node_sdk_registers_sends_metrics_and_evaluates_like_the_engine(
    node_check: Path,
    server: BackgroundServer,
    tokens: Tokens,
    store: SqliteStore,
    api: httpx.Client,
) -> None:
    store.put_flags(FLAGS, actor="test")
    done = subprocess.run(
        [NODE, str(node_check), "evaluate", f"{server.url}/api", tokens.client, str(CONTEXTS)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    [report] = list(lines(iter(done.stdout.splitlines())))
    assert report["warnings"] == []
    engine = Engine.from_unleash({"version": 1, "features": list(FLAGS.values())})
    orders: dict[str, int] = {}
    for i, result in enumerate(report["results"]):
        context = {"userId": f"user-{i}", "sessionId": f"s-{i}"}
        assert result["enabled"] == [engine.is_enabled(n, context) for n in FLAGS], i
        ours = engine.get_variant("checkout", context)
        assert (result["variant"], result["variantEnabled"]) == (ours["name"], ours["enabled"])
        orders[ours["name"]] = orders.get(ours["name"], 0) + 1
    usage = api.get("/api/admin/metrics/flags/checkout").json()
    assert usage["yes"] + usage["no"] == 2 * CONTEXTS  # isEnabled and getVariant
    counted = {m["labels"]["checkout"]: m["value"] for m in usage["impactMetrics"]}
    assert counted == orders
    [app] = api.get("/api/admin/status").json()["applications"]
    assert app["sdk_version"] == "unleash-node-sdk:6.12.2"
    assert "flexibleRollout" in app["strategies"]


def test_the_node_sdk_streams_and_hears_changes(
    node_check: Path,
    server: BackgroundServer,
    tokens: Tokens,
    store: SqliteStore,
    api: httpx.Client,
) -> None:
    store.put_flags(FLAGS, actor="test")
    with subprocess.Popen(
        [NODE, str(node_check), "stream", f"{server.url}/api", tokens.client],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    ) as process:  # fmt: skip
        try:
            assert process.stdout is not None
            reports = lines(process.stdout)
            assert next(reports) == {"ready": True}
            api.put(
                "/api/admin/flags/search",
                json={"definition": rollout_feature("search", 100), "expected_version": 1},
            ).raise_for_status()
            assert next(reports)["search"] is True
            api.post("/api/admin/flags/search/kill").raise_for_status()
            assert next(reports)["search"] is False
            final = next(reports)
            assert final["done"] == [True, False]
            assert final["warnings"] == []
            assert process.wait(20) == 0
        finally:
            process.kill()


def test_a_full_server_sends_the_node_sdk_back_to_polling(
    node_check: Path, db: Path, tokens: Tokens, store: SqliteStore
) -> None:
    store.put_flags(FLAGS, actor="test")
    server = in_thread(db, ServerSettings(heartbeat=0.3, poll_interval=0.02, max_streams=1))
    holder = StreamReader(f"{server.url}/api/client/streaming", tokens.client)
    try:
        holder.wait_for(1)  # the only stream slot is taken
        with subprocess.Popen(
            [NODE, str(node_check), "stream", f"{server.url}/api", tokens.client],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ) as process:  # fmt: skip
            try:
                assert process.stdout is not None
                reports = lines(process.stdout)
                # Synchronized all the same: fetch-mode sent it to polling /features.
                assert next(reports) == {"ready": True}
                with httpx.Client(base_url=server.url, headers=bearer(tokens.admin)) as api:
                    api.put(
                        "/api/admin/flags/search",
                        json={"definition": rollout_feature("search", 100), "expected_version": 1},
                    ).raise_for_status()
                    assert next(reports)["search"] is True  # by its next poll (1 s)
                    api.post("/api/admin/flags/search/kill").raise_for_status()
                    assert next(reports)["search"] is False
                final = next(reports)
                assert final["done"] == [True, False]
                # The SDK says why it polls, and nothing else went wrong.
                assert final["warnings"] == [
                    "Server has explicitly requested switching to polling mode"
                ]
            finally:
                process.kill()
    finally:
        holder.close()
        server.stop()
