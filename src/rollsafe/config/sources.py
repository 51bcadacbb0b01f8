"""Pydantic models of the scale-out adapters: a Prometheus server as metric source, nginx as router.

``PrometheusMetrics`` is the alternative to :class:`~rollsafe.config.plan.ScrapeMetrics`
under a plan's ``metrics`` (``provider: prometheus``); it reads the same metric and
label conventions, so a plan switches provider by changing ``provider`` and ``url``.
``NginxRouter`` configures the nginx traffic router (``type: nginx``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from rollsafe.config.router_metrics import DEFAULT_VARIANT_HEADER, HeaderName
from rollsafe.config.types import Duration, StrictModel

_METRIC_NAME = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"
_LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
MetricName = Annotated[str, Field(pattern=_METRIC_NAME, max_length=200)]
LabelName = Annotated[str, Field(pattern=_LABEL_NAME, max_length=200)]
Port = Annotated[int, Field(ge=1, le=65535)]


class PrometheusMetrics(StrictModel):
    """Query a Prometheus server (HTTP API, PromQL); arms come from one label.

    Requests, errors and latency buckets come from the series whose labels include
    every ``selector`` and ``match`` pair; memory from the ``selector`` ones only
    (it describes processes, not requests). ``selector`` names the service's scrape
    targets (e.g. ``{job: shop}``), ``match`` narrows requests (``{route: /checkout}``).
    """

    provider: Literal["prometheus"] = "prometheus"
    url: Annotated[str, Field(pattern=r"^https?://\S+$")] = "http://127.0.0.1:9090"
    """Base URL of the Prometheus server (``/api/v1/query`` is appended)."""
    timeout: Duration = 2.0
    """Bound on each query (connect, server-side evaluation and read); a look runs three."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra HTTP headers sent with each query (e.g. ``Authorization`` for a proxy)."""
    lookback: Duration = 60.0
    """How far back the first look finds each series' latest sample, and the overlap
    between looks: at least twice the scrape interval. No sample of the requests
    metric within it is an error (the service is not being scraped)."""
    requests_metric: MetricName = "http_requests_total"
    """Counter of requests; a ``status_label`` of 5xx marks an error."""
    latency_metric: MetricName = "http_request_duration_seconds"
    """Histogram of request latency (its ``_bucket`` series)."""
    memory_metric: MetricName = "process_resident_memory_bytes"
    status_label: LabelName = "status"
    arm_label: LabelName = "variant"
    canary: str = "new"
    baseline: str = "old"
    release_label: LabelName = "release"
    """The label naming the release that served a request (analysis with ``arms: release``)."""
    selector: dict[LabelName, str] = Field(default_factory=dict)
    """Every query keeps only series with these labels (e.g. ``{job: shop}``)."""
    match: dict[LabelName, str] = Field(default_factory=dict)
    """Requests and latency keep only series with these labels (e.g. ``{route: /checkout}``)."""

    @field_validator("lookback")
    @classmethod
    def _at_least_a_second(cls, value: float) -> float:
        if value < 1:
            raise ValueError("must be at least 1s")
        return value

    @model_validator(mode="after")
    def _two_arms(self) -> PrometheusMetrics:
        if self.canary == self.baseline:
            raise ValueError(f"canary and baseline must differ, both are {self.canary!r}")
        return self


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
    command_timeout: Duration = 10.0
    """Bound on ``nginx -t`` and on starting the daemon."""
    variant_header: HeaderName = DEFAULT_VARIANT_HEADER
    """The response header naming the flag variant that served a request: nginx records
    it with each request, for ``metrics.provider: router`` to split arms by flag."""
