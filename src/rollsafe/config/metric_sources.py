"""Pydantic models of a plan's ``metrics``: where observations per arm come from.

Every source shares :class:`Arms`: how a request is put in the canary or the
baseline arm, checked once here (``canary`` must differ from ``baseline``, or
the judge would compare an arm with itself and stay inconclusive forever).

- ``scrape`` (the default): each instance's Prometheus endpoint;
- ``prometheus``: a Prometheus server, by rollsafe's metric conventions or by
  the plan's own PromQL (``queries``, for services instrumented their own way);
- ``command``: an argv printing one observation as JSON, once per arm;
- ``http``: a GET per arm whose JSON fields map onto an observation.

The last two reach backends that cannot run here (Datadog, CloudWatch, New
Relic) through a small script or an HTTP endpoint.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from rollsafe.config import json_paths
from rollsafe.config.placeholders import check_known, check_splits_arms
from rollsafe.config.promql import check_template
from rollsafe.config.types import Duration, StrictModel

_METRIC_NAME = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"
_LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
MetricName = Annotated[str, Field(pattern=_METRIC_NAME, max_length=200)]
LabelName = Annotated[str, Field(pattern=_LABEL_NAME, max_length=200)]
PromQLTemplate = Annotated[
    str, Field(min_length=1, max_length=4000), AfterValidator(check_template)
]
"""PromQL with ``{arm}`` / ``{release}`` placeholders, syntax-checked at plan load."""
Templated = Annotated[str, AfterValidator(check_known)]
JsonPath = Annotated[str, Field(min_length=1), AfterValidator(lambda p: json_paths.parse(p) and p)]


class Arms(StrictModel):
    """Which requests are the canary's and which the baseline's.

    Sources that read labels keep the series whose ``arm_label`` is ``canary`` or
    ``baseline``. Sources that run a query, command or URL per arm put that value
    into ``{arm}`` (:mod:`rollsafe.config.placeholders`).
    """

    timeout: Duration = 2.0
    arm_label: LabelName = "variant"
    canary: str = "new"
    baseline: str = "old"
    release_label: LabelName = "release"
    """The label naming the release that served a request (analysis with ``arms: release``)."""

    @model_validator(mode="after")
    def _two_arms(self) -> Arms:
        if self.canary == self.baseline:
            raise ValueError(f"canary and baseline must differ, both are {self.canary!r}")
        return self


class Conventions(Arms):
    """Metric names and labels of rollsafe's conventions, read by scrape and Prometheus."""

    requests_metric: MetricName = "http_requests_total"
    """Counter of requests; a ``status_label`` of 5xx marks an error."""
    latency_metric: MetricName = "http_request_duration_seconds"
    """Histogram of request latency (its ``_bucket`` series)."""
    memory_metric: MetricName = "process_resident_memory_bytes"
    """Gauge of resident memory. With Prometheus it is per arm where its series carry
    ``arm_label`` (targets labelled by release); otherwise both arms get the same mean."""
    status_label: LabelName = "status"
    match: dict[LabelName, str] = Field(default_factory=dict)
    """Only request series whose labels equal these count (e.g. ``{route: /checkout}``)."""


class ScrapeMetrics(Conventions):
    """Scrape each instance's Prometheus endpoint; arms come from one label."""

    provider: Literal["scrape"] = "scrape"
    path: str = "/metrics"


class PrometheusQueries(StrictModel):
    """The plan's own PromQL per metric, run once per arm with ``{arm}``/``{release}`` filled.

    Each query returns the counters themselves, cumulative, not a ``rate()``: the
    source tracks every returned series between looks (a series seen first counts
    in full, a lower value is a counter reset), as it does for rollsafe's own
    conventions. Summing is fine (``sum by (le) (...)``); so is returning many
    series. Micrometer's ``http_server_requests_seconds_count{status=~"5.."}``,
    OpenTelemetry's ``http_server_request_duration_seconds_bucket`` and
    ingress-nginx's ``nginx_ingress_controller_requests`` all fit.
    """

    requests: PromQLTemplate
    """All requests of the arm, e.g.
    ``sum(http_server_requests_seconds_count{release="{release}"})``."""
    errors: PromQLTemplate
    """The arm's failed requests (5xx), same shape as ``requests``."""
    latency_buckets: PromQLTemplate | None = None
    """Cumulative histogram buckets of the arm, one series per ``le`` label."""
    memory: PromQLTemplate | None = None
    """One gauge value (bytes); may use no placeholder, then both arms carry it."""

    @field_validator("requests", "errors", "latency_buckets")
    @classmethod
    def _arms_apart(cls, query: str | None) -> str | None:
        if query is not None:
            check_splits_arms([query], "the query")
        return query


class PrometheusMetrics(Conventions):
    """Query a Prometheus server (HTTP API, PromQL); arms come from one label.

    Requests, errors and latency buckets come from the series whose labels include
    every ``selector`` and ``match`` pair; memory from the ``selector`` ones only
    (it describes processes, not requests). ``selector`` names the service's scrape
    targets (e.g. ``{job: shop}``), ``match`` narrows requests (``{route: /checkout}``).
    With ``queries``, the plan's PromQL replaces all of that (metric names,
    labels, ``selector`` and ``match`` are then unused).
    """

    provider: Literal["prometheus"] = "prometheus"
    url: Annotated[str, Field(pattern=r"^https?://\S+$")] = "http://127.0.0.1:9090"
    """Base URL of the Prometheus server (``/api/v1/query`` is appended)."""
    timeout: Duration = 2.0
    """Bound on each query (connect, server-side evaluation and read); a look runs several."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra HTTP headers sent with each query (e.g. ``Authorization`` for a proxy)."""
    lookback: Duration = 60.0
    """How far back the first look finds each series' latest sample, and the overlap
    between looks: at least twice the scrape interval. No sample of the requests
    metric within it is an error (the service is not being scraped)."""
    selector: dict[LabelName, str] = Field(default_factory=dict)
    """Every query keeps only series with these labels (e.g. ``{job: shop}``)."""
    queries: PrometheusQueries | None = None
    """The plan's own PromQL per metric instead of rollsafe's conventions."""

    @field_validator("lookback")
    @classmethod
    def _at_least_a_second(cls, value: float) -> float:
        if value < 1:
            raise ValueError("must be at least 1s")
        return value


class CommandMetrics(Arms):
    """Run ``argv`` (no shell) once per arm; it prints one observation as JSON on stdout.

    The observation is DESIGN.md's: ``requests`` and ``errors`` (required),
    ``latency_seconds_bucket`` and ``memory_bytes`` (optional), counters
    cumulative since any fixed point (a counter that goes down is a reset).
    ``t`` and ``arm`` may be left out. A command that exits non-zero, outlives
    ``timeout`` (its whole process group is killed) or prints anything else
    makes the look fail, naming why: missing evidence, never a pass.
    """

    provider: Literal["command"]
    argv: Annotated[list[Templated], Field(min_length=1)]
    """Program and arguments; ``{arm}`` and ``{release}`` are filled per arm."""
    timeout: Duration = 10.0
    env: dict[str, str] = Field(default_factory=dict)
    """Added to rollsafe's environment (``ROLLSAFE_ARM`` is set too: canary or baseline)."""

    @model_validator(mode="after")
    def _arms_apart(self) -> CommandMetrics:
        check_splits_arms(self.argv, "argv")
        return self


class HttpFields(StrictModel):
    """Where each observation field sits in the JSON answer: JSONPath-lite paths
    (:mod:`rollsafe.config.json_paths`) such as ``$.data.total``."""

    requests: JsonPath
    errors: JsonPath
    latency_seconds_bucket: JsonPath | None = None
    """An object of bucket bound to cumulative count (``{"0.1": 12, "+Inf": 20}``)."""
    memory_bytes: JsonPath | None = None


class HttpMetrics(Arms):
    """GET ``url`` once per arm (``{arm}``/``{release}`` filled in it and in ``params``)
    and read the observation's fields from the JSON answer at ``fields``' paths.

    Counters as for ``command``. A connection failure, a timeout, a non-2xx
    answer, a body that is not JSON, a missing field or a value of the wrong type
    makes the look fail, naming why.
    """

    provider: Literal["http"]
    url: Annotated[Templated, Field(pattern=r"^https?://\S+$")]
    params: dict[str, Templated] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    """Sent with each GET (e.g. an API key: ``DD-API-KEY``)."""
    fields: HttpFields

    @model_validator(mode="after")
    def _arms_apart(self) -> HttpMetrics:
        check_splits_arms([self.url, *self.params.values()], "url or params")
        return self
