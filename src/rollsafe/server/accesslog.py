"""The opt-in access log (``rollsafe server --access-log``): one line per request.

::

    127.0.0.1 shop "GET /api/client/features HTTP/1.1" 200 5123 0.8ms app=checkout ua="node"

Fields: client address, the token's name (``-`` when none was accepted), the
request line, status, body bytes sent, time to the last byte, the application
(`rollsafe.server.usage.app_name`, ``-`` when unnamed) and the user agent. A
stream's line is written when it ends. Lines go to standard error or are
appended to a file; a failed write is reported once and never fails a request.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rollsafe.server.usage import app_name

log = logging.getLogger(__name__)

STDERR = "-"
"""`rollsafe.server.ServerSettings.access_log` for standard error."""

TOKEN_KEY = "rollsafe.token"  # noqa: S105 (a scope key, not a secret)
"""Where the app leaves the accepted token's name in the ASGI scope, for this log."""


class AccessLog:
    """Writes one line per HTTP request served by the app it wraps (see `serve`)."""

    def __init__(self, target: str) -> None:
        """``target``: `STDERR`, or a file path to append to (opened once, line-buffered)."""
        self._own = target != STDERR
        self._stream: TextIO = (
            open(target, "a", buffering=1, encoding="utf-8") if self._own else sys.stderr  # noqa: SIM115
        )
        self._failed = False

    def close(self) -> None:
        if self._own:
            self._stream.close()

    async def serve(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 0
        sent = 0

        async def sending(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await app(scope, receive, sending)
        finally:
            self._write(scope, status, sent, time.perf_counter() - started)

    def _write(self, scope: Scope, status: int, sent: int, seconds: float) -> None:
        client = scope.get("client")
        address = client[0] if client else "-"
        query = scope.get("query_string", b"")
        target = scope.get("path", "") + (f"?{query.decode('latin-1')}" if query else "")
        agent = "-"
        for key, value in scope["headers"]:
            if key == b"user-agent":
                agent = value.decode("latin-1")[:200].replace('"', "'")
                break
        line = (
            f'{address} {scope.get(TOKEN_KEY, "-")} "{scope["method"]} {target} '
            f'HTTP/{scope.get("http_version", "1.1")}" {status or "-"} {sent} '
            f'{seconds * 1000:.1f}ms app={app_name(scope) or "-"} ua="{agent}"\n'
        )
        try:
            self._stream.write(line)
        except (OSError, ValueError) as error:
            if not self._failed:
                self._failed = True
                log.error("cannot write the access log: %s", error)
