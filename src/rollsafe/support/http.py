"""httpx clients that are cheap to make: one TLS context for the whole process.

``httpx.Client()`` builds a new ``ssl.SSLContext`` and loads certifi's CA
bundle into it every time, about 50 ms of CPU, even when the client only ever
speaks plain HTTP on loopback. Health probes, nginx reload checks and the demo's
Prometheus polls make a short-lived client many times a second (some must: a
new connection each time), so that cost dominated their CPU. The context built
here verifies exactly as httpx's default does (certifi's bundle) and is built
once; an ``SSLContext`` may be shared by threads.
"""

from __future__ import annotations

import ssl
from functools import cache
from typing import Any

import certifi
import httpx


@cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi's CA bundle), built on first use."""
    return ssl.create_default_context(cafile=certifi.where())


def http_client(**options: Any) -> httpx.Client:
    """``httpx.Client(**options)`` verifying TLS with the shared context unless told otherwise."""
    options.setdefault("verify", tls_context())
    return httpx.Client(**options)


def http_get(url: str, **options: Any) -> httpx.Response:
    """``httpx.get`` on a client from `http_client` (``options`` go to ``get``)."""
    with http_client(timeout=options.pop("timeout", 5.0)) as client:
        return client.get(url, **options)
