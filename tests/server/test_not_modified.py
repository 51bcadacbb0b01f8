"""The features route's hand-built 304 is the answer Starlette would have built."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.responses import Response

from rollsafe.server.client import NotModified


async def sent(response: Response) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await response({"type": "http", "method": "GET", "path": "/"}, receive, send)
    return messages


@pytest.mark.anyio
@pytest.mark.parametrize("etag", ['"default:12"', '"default:3:0123abcd4567"'])
async def test_not_modified_sends_what_starlette_sends(etag: str) -> None:
    built = Response(status_code=304, headers={"ETag": etag, "Cache-Control": "no-cache"})
    fast = await sent(NotModified(etag))
    assert fast == await sent(built)
    assert fast[0]["status"] == 304
    assert dict(fast[0]["headers"]) == {b"etag": etag.encode(), b"cache-control": b"no-cache"}
    assert fast[1]["body"] == b""
