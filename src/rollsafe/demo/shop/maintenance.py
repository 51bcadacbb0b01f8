"""Maintenance mode: while a marker file exists, answer 503 except health and metrics.

Rollback level 3 turns it on before it restores data, so the previous release
can start and pass health checks without serving requests from a database
that is being replaced.
"""

from __future__ import annotations

import json
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/health", "/metrics"})


class MaintenanceMiddleware:
    def __init__(self, app: ASGIApp, marker: Path | None) -> None:
        self.app = app
        self.marker = marker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or self.marker is None
            or scope["path"] in OPEN_PATHS
            or not self.marker.exists()
        ):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": "down for maintenance; try again shortly"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"retry-after", b"5")],
            }
        )
        await send({"type": "http.response.body", "body": body})
