"""Connected applications: SDK instances that registered or sent metrics (``/api/admin/status``).

An instance counts as connected while it reports: seen within three of its
metrics intervals (one minute when it did not say), so one lost report does
not drop it. Instances gone longer are still listed, not connected, until the
store's retention forgets them (`rollsafe.store.usage`).
"""

from __future__ import annotations

import time

from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from rollsafe.server.service import Service
from rollsafe.store.usage import ApplicationRecord

DEFAULT_INTERVAL = 60.0
MISSED_REPORTS = 3


class ApplicationOut(BaseModel):
    app_name: str = Field(description="appName the SDK was configured with.")
    instance_id: str
    environment: str
    sdk_version: str = Field(description="e.g. 'unleash-client-node:6.12.2'.")
    strategies: list[str] = Field(description="Strategies the SDK knows.")
    started: str = Field(description="When the SDK started, as it said (ISO 8601).")
    interval_ms: int | None = Field(description="Its metrics interval.")
    platform: str
    token: str = Field(description="Name of the API token it used.")
    first_seen: float
    last_seen: float
    connected: bool = Field(description="Seen within three of its metrics intervals.")

    @classmethod
    def of(cls, record: ApplicationRecord, now: float) -> ApplicationOut:
        interval = (record.interval_ms or 0) / 1000 or DEFAULT_INTERVAL
        return cls(
            app_name=record.app_name,
            instance_id=record.instance_id,
            environment=record.environment,
            sdk_version=record.sdk_version,
            strategies=list(record.strategies),
            started=record.started,
            interval_ms=record.interval_ms,
            platform=record.platform,
            token=record.token_name,
            first_seen=record.first_seen,
            last_seen=record.last_seen,
            connected=now - record.last_seen <= MISSED_REPORTS * max(interval, 1.0),
        )


async def connected_applications(service: Service, environment: str = "*") -> list[ApplicationOut]:
    """Every remembered instance (of ``environment``, or all for ``*``), most recent first."""
    records = await run_in_threadpool(service.store.list_applications)
    now = time.time()
    shown = [r for r in records if environment in ("*", r.environment)]
    shown.sort(key=lambda r: r.last_seen, reverse=True)
    return [ApplicationOut.of(r, now) for r in shown]
