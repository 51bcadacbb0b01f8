"""A loopback HTTP server whose /metrics text the test writes, to drive resets precisely."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Exposition:
    """Serves ``text`` at any path with ``status``; ``stop()`` closes the socket."""

    def __init__(self) -> None:
        self.text = ""
        self.status = 200
        exposition = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                body = exposition.text.encode()
                self.send_response(exposition.status)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    def counters(self, *, epoch: float | None = None, memory: float | None = None,
                 **series: float) -> None:  # fmt: skip
        """Expose ``http_requests_total`` series named ``<variant>_<status>[_<route>]``."""
        lines = ["# TYPE http_requests_total counter"]
        for name, value in series.items():
            variant, status, *route = name.split("_")
            path = "/" + (route[0] if route else "checkout")
            lines.append(
                f'http_requests_total{{route="{path}",method="POST",status="{status}",'
                f'variant="{variant}",release="1.1.0"}} {value}'
            )
        if epoch is not None:
            lines += [
                "# TYPE process_start_time_seconds gauge",
                f"process_start_time_seconds {epoch}",
            ]
        if memory is not None:
            lines += [
                "# TYPE process_resident_memory_bytes gauge",
                f"process_resident_memory_bytes {memory}",
            ]
        self.text = "\n".join(lines) + "\n"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
