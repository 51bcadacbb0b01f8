"""Past the process's open-file limit, streams are refused with 503, quietly (issue 17, item 3)."""

from __future__ import annotations

import asyncio
import collections
import time
from pathlib import Path

import httpx
import pytest

from rollsafe.flags import rollout_feature
from rollsafe.server.descriptors import RESERVED, stream_limit
from rollsafe.store.sqlite import SqliteStore
from tests.server.servers import ServerProcess, Tokens, bearer, make_tokens

pytestmark = pytest.mark.slow  # starts real service processes

OPEN_FILES = 256
CLIENTS = 500
"""Twice what the server's descriptors can hold: it must accept, refuse and recover."""


def test_the_stream_limit_leaves_descriptors_for_everything_else() -> None:
    assert stream_limit(10_000, 1024) == 1024 - RESERVED - 1024 // 8
    assert stream_limit(100, 1024) == 100
    assert stream_limit(100, None) == 100
    assert stream_limit(100, RESERVED) == 1


def test_streams_past_the_open_file_limit_get_503_and_the_log_stays_short(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    tokens = make_tokens(home / "rollsafe.db")
    log = tmp_path / "server.log"
    server = ServerProcess(home, open_files=OPEN_FILES, log=log).start()
    try:
        asyncio.run(_flood(server, home, tokens))
    finally:
        server.kill()
    text = log.read_text(errors="replace")
    assert "Traceback" not in text
    assert len(text) < 4000, text[:4000]
    assert f"affords {stream_limit(10_000, OPEN_FILES)} streams" in text


async def _flood(server: ServerProcess, home: Path, tokens: Tokens) -> None:
    request = (
        f"GET /api/client/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tokens.client}"
        "\r\n\r\n"
    ).encode()
    streams: list[asyncio.StreamReader] = []
    writers: list[asyncio.StreamWriter] = []

    async def client() -> tuple[str, str]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writers.append(writer)
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        code = lines[0].split()[1]
        if code == "200":
            streams.append(reader)
        return code, headers.get("retry-after", "")

    try:
        started = time.monotonic()
        answers = await asyncio.gather(*(client() for _ in range(CLIENTS)))
        waited = time.monotonic() - started
        limit = stream_limit(10_000, OPEN_FILES)
        statuses = collections.Counter(code for code, _ in answers)
        # Every client got an answer: a stream while there was room, else a prompt 503.
        assert statuses == {"200": limit, "503": CLIENTS - limit}, statuses
        assert {retry for code, retry in answers if code == "503"} == {"5"}
        assert waited < 30
        # Other requests are still served, and the open streams still get changes.
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            status = (await http.get("/api/admin/status", headers=bearer(tokens.admin))).json()
            assert (status["max_streams"], status["streams"]) == (limit, limit)
            features = await http.get("/api/client/features", headers=bearer(tokens.client))
            assert features.status_code == 200
        await asyncio.to_thread(_write_flag, home, "checkout")
        await asyncio.wait_for(asyncio.gather(*(_hear(s, b"checkout") for s in streams)), 30)
    finally:
        for writer in writers:
            writer.close()


def _write_flag(home: Path, name: str) -> None:
    store = SqliteStore(home / "rollsafe.db")
    try:
        store.put_flag(name, rollout_feature(name, 10), actor="test")
    finally:
        store.close()


async def _hear(stream: asyncio.StreamReader, word: bytes) -> None:
    seen = b""
    while word not in seen:
        chunk = await stream.read(65536)
        assert chunk, "the stream ended"
        seen = seen[-1000:] + chunk
