"""A real HTTP service for the load gate's tests: every GET takes DELAY seconds.

Run as ``python slow_service.py DELAY``; it binds a free loopback port and prints
it on its first line, so the test never races for a port.
"""

from __future__ import annotations

import http.server
import sys
import time

DELAY = float(sys.argv[1])


class _Slow(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one response is two writes: no 40 ms delayed-ACK wait

    def do_GET(self) -> None:
        time.sleep(DELAY)
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        del format, args


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs from 16 connections: 1 s retries

    def handle_error(self, request: object, client_address: object) -> None:
        del request, client_address  # a load generator hanging up mid-response is ordinary


server = _Server(("127.0.0.1", 0), _Slow)
print(server.server_address[1], flush=True)
server.serve_forever()
