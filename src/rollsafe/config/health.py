"""The HTTP health check every target uses before an instance takes traffic."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from rollsafe.config.types import Duration, StrictModel


class HealthCheck(StrictModel):
    """HTTP readiness probe: an instance takes traffic only after it answers 2xx."""

    path: str = "/health"
    timeout: Duration = 1.0
    interval: Duration = 0.2
    retries: Annotated[int, Field(ge=1)] = 50
