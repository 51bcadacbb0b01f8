"""A tiny HTTP server that answers every GET with its own name: ``python upstream.py NAME PORT``.

Run as its own process, so that the test's client threads do not share a GIL with it.
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    name, port = sys.argv[1], int(sys.argv[2])
    body = name.encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream keepalive expects
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms ACK waits

        def do_GET(self) -> None:
            self.send_response(200)
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
