"""Pydantic model of the scale-out router: ``NginxRouter`` configures nginx (``type: nginx``).

What the router reports as metrics (``metrics.provider: router``) is configured in
:mod:`rollsafe.config.router_metrics`; the other metric sources are in
:mod:`rollsafe.config.metric_sources`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from rollsafe.config.router_metrics import DEFAULT_VARIANT_HEADER, HeaderName
from rollsafe.config.types import Duration, StrictModel

Port = Annotated[int, Field(ge=1, le=65535)]


class NginxRouter(StrictModel):
    """An nginx that fronts the stable and canary instances and splits traffic by weight.

    rollsafe writes its configuration, checks it with ``nginx -t`` and reloads it
    gracefully; nginx runs as its own daemon, so traffic keeps flowing if the
    controller stops.
    """

    type: Literal["nginx"] = "nginx"
    listen_host: Annotated[str, Field(pattern=r"^[A-Za-z0-9.:\[\]-]+$")] = "127.0.0.1"
    """Address nginx listens on (``0.0.0.0`` for every interface)."""
    listen_port: Port | None = None
    """Where clients connect; unset: a free port chosen at the first start and kept."""
    binary: str = "nginx"
    """The nginx executable: a path, or a name looked up on ``PATH`` and in ``/usr/sbin``."""
    worker_processes: Annotated[int, Field(ge=1, le=64)] | Literal["auto"] = 1
    """nginx workers; each balances on its own, so one gives the most exact split."""
    user: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+$")] | None = None
    """Workers' user when started as root (default ``nobody``); ignored otherwise."""
    connect_timeout: Duration = 2.0
    """nginx's ``proxy_connect_timeout``: a server that does not accept within it is
    skipped (``proxy_next_upstream error timeout``)."""
    read_timeout: Duration = 60.0
    """nginx's ``proxy_read_timeout`` and ``proxy_send_timeout``."""
    client_keepalive: Duration = 0.0
    """nginx's ``keepalive_timeout`` for clients; 0 (the default) answers every request
    with ``Connection: close``. On a reload nginx closes the idle kept-alive
    connections of its old workers, and a request a client sends on one at that
    instant fails (browsers retry idempotent ones, most HTTP libraries do not): with
    keep-alive off no request fails while the split changes, at the cost of one TCP
    handshake per request."""
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1024 * 1024
    """Largest request body; bodies are kept in memory, never in temporary files."""
    reload_timeout: Duration = 10.0
    """How long start, reload and graceful stop may take before they count as failed."""
    drain_timeout: Duration = 10.0
    """How long a change that takes servers out of the split waits for nginx's old
    workers to finish the requests they hold (their upstream set still names those
    servers) before it returns and the servers may stop. A request whose body is
    still arriving is sent on once it is in, to a server of the split it arrived
    under: stopped sooner, that server's answer would be a 502. Past it, the
    requests left are the instance's own graceful stop's to finish."""
    upstream_keepalive: Duration = 1.0
    """How long nginx keeps an idle connection to an instance for the next request
    (its upstream ``keepalive_timeout``; 0: a new connection per request). Shorter
    than the instances' own idle timeout (uvicorn and Node.js 5 s, gunicorn 2 s), so
    nginx closes an idle connection before the instance does: a request nginx sends
    on a connection the instance is closing fails, and for a POST nginx may not try
    another server (the instance may have run it), so the client gets a 502."""
    command_timeout: Duration = 10.0
    """Bound on ``nginx -t`` and on starting the daemon."""
    variant_header: HeaderName = DEFAULT_VARIANT_HEADER
    """The response header naming the flag variant that served a request: nginx records
    it with each request, for ``metrics.provider: router`` to split arms by flag."""
