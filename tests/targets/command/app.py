"""The sample service the command target's tests deploy from a git checkout (stdlib only).

The tests commit this file once per release with ``VERSION`` and ``HEALTHY``
rewritten, and tag each commit ``v<VERSION>``. Endpoints: ``/health`` (503
when ``HEALTHY`` is false), ``/version`` (the version as text), ``/info``
(JSON with the version and pid).
"""

from __future__ import annotations

import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "0.0.0"
HEALTHY = True


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":
            status, body = (200, "ok") if HEALTHY else (503, "broken on purpose")
        elif self.path == "/version":
            status, body = 200, VERSION
        elif self.path == "/info":
            status, body = 200, json.dumps({"version": VERSION, "pid": os.getpid()})
        else:
            status, body = 404, "not found"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"app {VERSION} listening on {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
