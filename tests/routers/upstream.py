"""A tiny HTTP server that answers every GET with its own name: ``python upstream.py NAME PORT``.

The query may choose the rest, as a service would answer: ``status=500`` the
status, ``delay=0.5`` seconds to wait first, ``variant=new`` the variant response
header (named by ``header``, ``X-Rollsafe-Variant`` unless given), as the SDK
middleware sets it. Run as its own process, so that the test's client threads do
not share a GIL with it.
"""

from __future__ import annotations

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def main() -> None:
    name, port = sys.argv[1], int(sys.argv[2])
    body = name.encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream keepalive expects
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms ACK waits

        def do_GET(self) -> None:
            query = {key: values[-1] for key, values in parse_qs(urlsplit(self.path).query).items()}
            time.sleep(float(query.get("delay", 0)))
            self.send_response(int(query.get("status", 200)))
            if "variant" in query:
                self.send_header(query.get("header", "X-Rollsafe-Variant"), query["variant"])
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
