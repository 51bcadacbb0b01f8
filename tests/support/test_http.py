"""Clients from rollsafe.support.http: one verifying TLS context, shared, and real requests."""

from __future__ import annotations

import ssl

import certifi
import httpx

from rollsafe.support.http import http_client, http_get, tls_context
from tests.endpoints import healthy_server


def test_the_shared_context_verifies_as_httpx_does_and_is_built_once() -> None:
    context = tls_context()
    assert context is tls_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    bundle = ssl.create_default_context(cafile=certifi.where())
    assert len(context.get_ca_certs()) == len(bundle.get_ca_certs()) > 0


def test_clients_and_gets_reach_a_loopback_server() -> None:
    with healthy_server() as url:
        assert http_get(url + "/health", timeout=2).status_code == 200
        limits = httpx.Limits(max_keepalive_connections=0)
        with http_client(timeout=2, limits=limits) as client:
            assert [client.get(url).status_code for _ in range(3)] == [200, 200, 200]
