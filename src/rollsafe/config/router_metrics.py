"""Metrics from the router (``metrics.provider: router``), and the records it writes for them.

rollsafe's nginx writes one JSON record per request (see
:mod:`rollsafe.metrics.router` for how they are read, and why a file). The
record's fields are the contract between the router that writes them and the
source that reads them, which are sibling layers: it lives here, below both.
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from rollsafe.config.types import StrictModel

DEFAULT_VARIANT_HEADER = "X-Rollsafe-Variant"
"""The response header that names the flag variant which served a request."""

HeaderName = Annotated[str, Field(pattern=r"^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$", max_length=100)]
"""An HTTP header name nginx can expose as ``$upstream_http_<name>`` (letters, digits, dashes)."""

_FIXED_FIELDS = {
    "t": "$msec",
    "status": "$status",
    "upstream": "$upstream_addr",
    "upstream_status": "$upstream_status",
    "request_time": "$request_time",
    "connect_time": "$upstream_connect_time",
    "response_time": "$upstream_response_time",
}
NUMERIC_FIELDS = frozenset({"t", "status", "request_time"})
"""Fields nginx always fills with a number, written unquoted."""

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Prometheus clients' default latency buckets, in seconds."""


def record_fields(variant_header: str) -> dict[str, str]:
    """Each field of a request's record and the nginx variable that fills it.

    ``t`` (seconds since the epoch), ``status`` and ``request_time`` are always
    numbers. The upstream fields list one value per upstream tried
    (``"127.0.0.1:8001, 127.0.0.1:8002"``, ``"502, 200"``) and are empty when
    nginx answered by itself; ``variant`` is the last upstream's ``variant_header``.
    """
    header_variable = "$upstream_http_" + variant_header.lower().replace("-", "_")
    return {**_FIXED_FIELDS, "variant": header_variable}


class RouterMetrics(StrictModel):
    """Count requests where users meet the service: at rollsafe's nginx, per arm.

    Needs the plan's ``router``; it is the default ``metrics`` of a plan with a
    router and no ``metrics``. Nothing in the service changes: no ``/metrics``,
    no labels. Arms come from each request's record: ``arm_label: variant`` (the
    default, for ``flag`` steps) reads the variant header the service's response
    carried (the router's ``variant_header``); an analysis with ``arms: release``
    (after a ``canary`` step) compares releases by the instance that answered.
    """

    provider: Literal["router"] = "router"
    arm_label: Literal["variant", "release"] = "variant"
    """What puts a request in an arm: the variant header's value, or the release that
    answered it. Requests in neither arm are counted under the arm ``other``."""
    canary: Annotated[str, Field(min_length=1, max_length=200)] = "new"
    baseline: Annotated[str, Field(min_length=1, max_length=200)] = "old"
    release_label: Literal["release"] = "release"
    """Fixed: an analysis with ``arms: release`` switches ``arm_label`` to it."""
    latency_buckets: Annotated[tuple[float, ...], Field(min_length=1, max_length=50)] = (
        DEFAULT_BUCKETS
    )
    """Upper bounds, in seconds, of the latency histogram's buckets (``+Inf`` is added)."""

    @field_validator("latency_buckets")
    @classmethod
    def _increasing(cls, bounds: tuple[float, ...]) -> tuple[float, ...]:
        if any(not math.isfinite(bound) or bound <= 0 for bound in bounds):
            raise ValueError("bucket bounds must be positive numbers of seconds")
        if any(later <= earlier for earlier, later in itertools.pairwise(bounds)):
            raise ValueError("bucket bounds must increase")
        return bounds

    @model_validator(mode="after")
    def _two_arms(self) -> RouterMetrics:
        if self.canary == self.baseline:
            raise ValueError(f"canary and baseline must differ, both are {self.canary!r}")
        return self
