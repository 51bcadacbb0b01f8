"""``python service.py --port PORT --release NAME``: an instance behind the router, under uvicorn.

``GET /`` answers the release; ``POST /orders`` reads its body and answers 201 with
the release and the body's length (a non-idempotent request nginx must never
retry); ``/health`` answers 200. Each request takes ``--work`` seconds (default
20 ms, awaited), so requests are in flight whenever the router switches. uvicorn
with its defaults, as a Python service would run: 5 s keep-alive, SIGTERM waits
for the requests in flight.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--release", required=True)
    parser.add_argument("--work", type=float, default=0.02)
    args = parser.parse_args()
    release = args.release.encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        status, body = 200, release
        if scope["path"] != "/health":
            await asyncio.sleep(args.work)
            if scope["method"] == "POST":
                status, body = 201, release + b" " + str(size).encode()
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(app, host="127.0.0.1", port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
