"""A tiny HTTP service the process target's tests run as real processes (stdlib only).

Its behaviour is steered by files in its working directory (the release dir):

- ``crash``: print a message and exit with code 3 at start.
- ``startup-delay``: sleep that many seconds before listening.
- ``ignore-sigterm``: ignore SIGTERM (so only SIGKILL stops it).
- ``spawn-child``: start a ``sleep`` child in its process group.
- ``unhealthy`` or ``unhealthy-<instance>``: ``/health`` answers 503 while present.

Endpoints: ``/health``, ``/version`` (the release as text), ``/info`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--release", required=True)
    parser.add_argument("--instance", type=int, default=0)
    parser.add_argument("--extra", default="")
    args = parser.parse_args()
    here = Path.cwd()
    if (here / "crash").exists():
        print("boom: crash file present", file=sys.stderr, flush=True)
        sys.exit(3)
    if (here / "startup-delay").exists():
        time.sleep(float((here / "startup-delay").read_text()))
    if (here / "ignore-sigterm").exists():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = None
    if (here / "spawn-child").exists():
        child = subprocess.Popen(["sleep", "60"])  # noqa: S607 - a test helper

    info = {
        "release": args.release,
        "instance": args.instance,
        "pid": os.getpid(),
        "child": child.pid if child else None,
        "cwd": str(here),
        "extra": args.extra,
        "greeting": os.environ.get("GREETING"),
        "marker": os.environ.get("ROLLSAFE_TARGET_ROOT"),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/health":
                flags = ("unhealthy", f"unhealthy-{args.instance}")
                sick = any((here / name).exists() for name in flags)
                self._send(503 if sick else 200, b"sick" if sick else b"ok", "text/plain")
            elif self.path == "/version":
                self._send(200, args.release.encode(), "text/plain")
            elif self.path == "/info":
                self._send(200, json.dumps(info).encode(), "application/json")
            else:
                self._send(404, b"not found", "text/plain")

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"release {args.release} instance {args.instance} on port {args.port}", file=sys.stderr)
    sys.stderr.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
