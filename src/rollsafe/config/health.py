"""The HTTP health check every target uses before an instance takes traffic."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from rollsafe.config.types import Duration, StrictModel


def _absolute_path(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"must start with / (like /health), got {path!r}")
    return path


class HealthCheck(StrictModel):
    """HTTP readiness probe: an instance takes traffic only after it answers 2xx."""

    path: Annotated[str, AfterValidator(_absolute_path)] = "/health"
    """An absolute path on each instance (``/health``); without ``/`` it would join the port."""
    timeout: Duration = 1.0
    interval: Duration = 0.2
    retries: Annotated[int, Field(ge=1)] = 50
